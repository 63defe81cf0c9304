import redis
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .models import Note


@csrf_exempt
def notes(request):
    if request.method == "POST":
        Note.objects.create(text=request.POST["text"])
    return JsonResponse({"notes": list(Note.objects.order_by("id").values_list("text", flat=True))})


@csrf_exempt
def clear(request):
    Note.objects.all().delete()
    return JsonResponse({"notes": []})


def visits(request):
    r = redis.Redis.from_url(settings.REDIS_URL)
    return JsonResponse({"visits": r.incr("visits")})
