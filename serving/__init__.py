"""Serving: the embedded PredictionService and the gRPC ranking service.

server = tfmtl.serving.serve("models/ple", "ple", port=8500)            # TF Serving's protocol
ranker = tfmtl.serving.RankingServer("127.0.0.1:8500", port=8600).start()
tfmtl.serving.RankingClient("127.0.0.1:8600").rank("ple", context, candidates)
"""

from tfmtl.serving.errors import ServingError
from tfmtl.serving.fusion import Fusion
from tfmtl.serving.model_manager import ModelManager
from tfmtl.serving.prediction_service import PredictionServer, serve
from tfmtl.serving.rank_client import RankingClient, feature_value, format_ranking, rank_request
from tfmtl.serving.ranking_service import RankingServer
from tfmtl.serving.servable import Servable
from tfmtl.serving.version_policy import VersionPolicy

__all__ = [
    "Fusion",
    "ModelManager",
    "PredictionServer",
    "RankingClient",
    "RankingServer",
    "Servable",
    "ServingError",
    "VersionPolicy",
    "feature_value",
    "format_ranking",
    "rank_request",
    "serve",
]
