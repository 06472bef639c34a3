"""Default ModelSerializers and ModelViewSets, as in the DRF tutorial."""

from rest_framework import pagination, serializers, viewsets

from timeline.models import District, Event, Handover


class Pagination(pagination.PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = "__all__"
        depth = 1


class DistrictSerializer(serializers.ModelSerializer):
    class Meta:
        model = District
        fields = "__all__"
        depth = 1


class HandoverSerializer(serializers.ModelSerializer):
    class Meta:
        model = Handover
        fields = "__all__"
        depth = 1


class EventViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Event.objects.filter(publication_status="published").order_by("date", "id")
    serializer_class = EventSerializer
    pagination_class = Pagination
    lookup_field = "slug"
    filterset_fields = {"districts__slug": ["exact"], "date": ["gte", "lte"]}
    search_fields = ["title", "summary", "districts__aliases__name"]


class DistrictViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = District.objects.filter(publication_status="published").order_by("name")
    serializer_class = DistrictSerializer
    pagination_class = Pagination
    lookup_field = "slug"
    search_fields = ["name", "aliases__name"]


class HandoverViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Handover.objects.filter(publication_status="published").order_by("id")
    serializer_class = HandoverSerializer
    pagination_class = Pagination
