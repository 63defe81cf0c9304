from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt


def hello(request):
    note = settings.MEDIA_ROOT / "note.txt"
    text = note.read_text() if note.exists() else "none"
    return HttpResponse(
        f"Hello from Django: {User.objects.count()} users, note {text}\n",
        content_type="text/plain",
    )


@csrf_exempt
def note(request):
    if request.method != "POST":
        return HttpResponse(status=405)
    (settings.MEDIA_ROOT / "note.txt").write_text(request.POST["text"])
    return HttpResponse("saved\n", content_type="text/plain")
