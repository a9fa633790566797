"""Request and response bodies of every route, with the examples the OpenAPI page shows, one
module per resource (as the routes are).

An image travels one of three ways, and every image field accepts each: a URL
(``*_url``, fetched by the guarded fetcher), base64 in JSON (``*image``, plain or a
``data:`` URL), or a file part of the same name in a multipart upload.

Answers are validated from the engine's own objects (``from_attributes``): where a field
is named differently there, its ``validation_alias`` says where it comes from.
"""

from .catalog import (
    DeleteResponse,
    HealthResponse,
    ImageRecord,
    IndexStatsResponse,
    IngestItem,
    IngestRequest,
    IngestResponse,
    IngestResult,
    WithUploads,
)
from .feedback import EnabledRequest, EnabledResponse, FeedbackItem, FeedbackList, FeedbackRequest
from .fields import ErrorBody
from .listings import (
    MAX_CLUSTER_IMAGES,
    CatalogMatch,
    ClusterImage,
    ClusterModel,
    ClustersRequest,
    ClustersResponse,
    GateMatch,
    GateRequest,
    GateResponse,
)
from .match import Explain, MatchRequest, MatchResponse, VideoMatchRequest, VideoMatchResponse, VideoSegment
from .search import ImageQuery, ReferenceHit, SearchHit, SearchRequest, SearchResponse

__all__ = [
    "MAX_CLUSTER_IMAGES",
    "CatalogMatch",
    "ClusterImage",
    "ClusterModel",
    "ClustersRequest",
    "ClustersResponse",
    "DeleteResponse",
    "EnabledRequest",
    "EnabledResponse",
    "ErrorBody",
    "Explain",
    "FeedbackItem",
    "FeedbackList",
    "FeedbackRequest",
    "GateMatch",
    "GateRequest",
    "GateResponse",
    "HealthResponse",
    "ImageQuery",
    "ImageRecord",
    "IndexStatsResponse",
    "IngestItem",
    "IngestRequest",
    "IngestResponse",
    "IngestResult",
    "MatchRequest",
    "MatchResponse",
    "ReferenceHit",
    "SearchHit",
    "SearchRequest",
    "SearchResponse",
    "VideoMatchRequest",
    "VideoMatchResponse",
    "VideoSegment",
    "WithUploads",
]
