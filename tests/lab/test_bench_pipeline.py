"""The data pipeline benchmark (segedu.lab.bench.pipeline): one row per worker count and decoding choice, images/s
from the batches it drew after the first (which starts the workers)."""

from types import SimpleNamespace

import pytest
import torch

from segedu.lab.bench import pipeline


class FakeCamVid(torch.utils.data.Dataset):
    """10 tiny samples; remembers whether it was asked to keep decoded frames."""

    def __init__(self, image_size):
        self.image_size, self.kept = image_size, False

    def keep_decoded(self):
        self.kept = True
        return self

    def __len__(self):
        return 10

    def __getitem__(self, index):
        return torch.zeros(3, *self.image_size), torch.zeros(self.image_size, dtype=torch.long)


def test_data_pipeline_counts_the_images_it_drew(monkeypatch):
    """10 samples in batches of 2 make 5 batches; the first starts the workers, so at most 4 are timed. Each call
    of the fake clock moves it 1 s on, so a timed run lasts 1 s: 4 batches x 2 images / 1 s = 8 images/s; asked for
    3 batches, 3 x 2 / 1 = 6 images/s."""
    built = []

    def build_dataset(name, split, *, image_size, augment):
        built.append((name, split, augment))
        dataset = FakeCamVid(image_size)
        built.append(dataset)
        return dataset

    clock = iter(range(1000))
    monkeypatch.setattr("segedu.data.build_dataset", build_dataset)
    monkeypatch.setattr(pipeline, "time", SimpleNamespace(perf_counter=lambda: float(next(clock))))
    lines = []
    rows = pipeline.data_pipeline(image_size=(8, 12), batch_size=2, workers=(0,), batches=40, log=lines.append)
    assert rows == [{"workers": 0, "keep_decoded": False, "images_per_second": pytest.approx(8.0)},
                    {"workers": 0, "keep_decoded": True, "images_per_second": pytest.approx(8.0)}]
    assert built[0] == ("camvid", "train", True) and not built[1].kept and built[3].kept
    assert lines[0] == "data: workers 0, decoded kept False:      8.0 img/s"
    rows = pipeline.data_pipeline(image_size=(8, 12), batch_size=2, workers=(0,), batches=3, keep_decoded=(False,),
                                  log=lambda line: None)
    assert rows == [{"workers": 0, "keep_decoded": False, "images_per_second": pytest.approx(6.0)}]
