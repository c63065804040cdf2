"""Keras layers: the switchers, their experts and gates, towers and the embedding block."""

from tfmtl.layers.ctfm import CTFM
from tfmtl.layers.dml import DMLTowers
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.experts import ExpertBank, Gate, mix
from tfmtl.layers.gkd import GKD
from tfmtl.layers.mlp import MLP
from tfmtl.layers.mmoe import MLMMoE, MMoE, OMoE
from tfmtl.layers.ple import CGC, PLE
from tfmtl.layers.shared_bottom import SharedBottom, SingleTask
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower

__all__ = [
    "CGC",
    "ExpertBank",
    "FeatureEmbedding",
    "Gate",
    "MLMMoE",
    "MLP",
    "MMoE",
    "OMoE",
    "PLE",
    "SharedBottom",
    "SingleTask",
    "Switcher",
    "Tower",
    "mix",
]
from tfmtl.layers.adatt import AdaTT, AdaTTSp
from tfmtl.layers.aitm import AITM, BehaviourCalibration
from tfmtl.layers.asymmetric import AsymmetricSharing
from tfmtl.layers.cross_stitch import CrossStitch
from tfmtl.layers.customized import CustomizedSharing
from tfmtl.layers.esmm import EntireSpaceProduct
from tfmtl.layers.sluice import Sluice

__all__ += [
    "AITM",
    "AdaTT",
    "AdaTTSp",
    "AsymmetricSharing",
    "BehaviourCalibration",
    "CrossStitch",
    "CustomizedSharing",
    "EntireSpaceProduct",
    "Sluice",
]
__all__ += ["CTFM", "DMLTowers", "GKD"]
from tfmtl.layers.dtrn import DTRNBottom
from tfmtl.layers.hypernetwork import HyperNetwork
from tfmtl.layers.tim import TIM
from tfmtl.layers.trm import TRM

__all__ += ["DTRNBottom", "HyperNetwork", "TIM", "TRM"]
from tfmtl.layers.feature_select import FeatureSelect
from tfmtl.layers.path_combine import PathCombine

__all__ += ["FeatureSelect", "PathCombine"]
