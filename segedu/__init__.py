"""segedu: a course in deep-learning semantic segmentation, and the small library its notebooks use.

    import segedu
    settings = segedu.profile()            # "fast" on a CPU, "full" on a GPU; SEGEDU_PROFILE overrides
    train = segedu.data.CamVid(split="train")
    model = segedu.models.build_model("unet", num_classes=train.num_classes)
    history = segedu.engine.fit(model, train, segedu.data.CamVid(split="val"), segedu.engine.TrainConfig(epochs=5))
"""

from . import data, engine, metrics, models
from .engine import TrainConfig, capped, evaluate, fit, predict, seed_everything
from .runtime import Runtime, resolve_device
from .metrics import ConfusionMatrix
from .models import build_model
from .profiles import Profile, profile
from .language import language, set_language

__version__ = "0.1.0"
__all__ = ["data", "engine", "metrics", "models", "TrainConfig", "fit", "evaluate", "predict", "capped", "Runtime", "resolve_device",
           "seed_everything", "ConfusionMatrix", "build_model", "Profile", "profile", "language", "set_language", "__version__"]
