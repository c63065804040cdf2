"""Keras layers: the switchers, their experts and gates, towers and the embedding block."""

from tfmtl.layers.adatt import AdaTT, AdaTTSp
from tfmtl.layers.aitm import AITM, BehaviourCalibration
from tfmtl.layers.asymmetric import AsymmetricSharing
from tfmtl.layers.cross_stitch import CrossStitch
from tfmtl.layers.ctfm import CTFM
from tfmtl.layers.customized import CustomizedSharing
from tfmtl.layers.dml import DMLTowers
from tfmtl.layers.dtrn import DTRNBottom
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.esmm import EntireSpaceProduct
from tfmtl.layers.experts import ExpertBank, Gate, mix
from tfmtl.layers.feature_select import FeatureSelect
from tfmtl.layers.gkd import GKD
from tfmtl.layers.home import HoME
from tfmtl.layers.home_gates import FeatureGate, NormalizedExperts
from tfmtl.layers.hypernetwork import HyperNetwork
from tfmtl.layers.mlp import MLP
from tfmtl.layers.mmoe import MLMMoE, MMoE, OMoE
from tfmtl.layers.path_combine import PathCombine
from tfmtl.layers.pepnet import EPNet, GateNU
from tfmtl.layers.ple import CGC, PLE
from tfmtl.layers.ppnet import PPNetTower
from tfmtl.layers.shared_bottom import SharedBottom, SingleTask
from tfmtl.layers.sluice import Sluice
from tfmtl.layers.stem import STEM
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.tim import TIM
from tfmtl.layers.towers import Tower
from tfmtl.layers.trm import TRM

__all__ = [
    "AITM",
    "AdaTT",
    "AdaTTSp",
    "AsymmetricSharing",
    "BehaviourCalibration",
    "CGC",
    "CTFM",
    "CrossStitch",
    "CustomizedSharing",
    "DMLTowers",
    "DTRNBottom",
    "EPNet",
    "EntireSpaceProduct",
    "ExpertBank",
    "FeatureEmbedding",
    "FeatureGate",
    "FeatureSelect",
    "GKD",
    "Gate",
    "GateNU",
    "HoME",
    "HyperNetwork",
    "MLMMoE",
    "MLP",
    "MMoE",
    "NormalizedExperts",
    "OMoE",
    "PLE",
    "PPNetTower",
    "PathCombine",
    "STEM",
    "SharedBottom",
    "SingleTask",
    "Sluice",
    "Switcher",
    "TIM",
    "TRM",
    "Tower",
    "mix",
]
