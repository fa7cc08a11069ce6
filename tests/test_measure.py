"""segedu.measure: the receptive field measured by back-propagating from one output pixel."""

from segedu.measure import measured_receptive_field


def test_measured_receptive_field_of_known_networks():
    assert measured_receptive_field([3] * 13 + [2] * 0, [1] * 13, [1] * 13) == 27
    assert measured_receptive_field([11, 3], [4, 2], [1, 1]) == 19  # AlexNet's conv1 + pool1
