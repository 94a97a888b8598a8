"""The native pool status API (/api/v1/pools/): what each loaded pool holds and does."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from inference.pipeline.engine import pool_infos
from portal.permissions import IsAdmin


class PoolListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(
        responses={
            200: OpenApiResponse(
                description="Per pool: device, dtype, weight bytes, state, running and waiting "
                "requests, model steps run, and the tenants it is dedicated to."
            )
        },
        tags=["Operations"],
    )
    def get(self, request):
        return Response({"pools": pool_infos()})
