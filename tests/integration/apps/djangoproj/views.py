from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt


def index(request):
    return HttpResponse("django-index", content_type="text/plain")


def hello(request, name):
    return JsonResponse({"hello": name, "q": request.GET.get("q")})


@csrf_exempt
def form(request):
    if request.method != "POST":
        return HttpResponse("POST only", status=405)
    return JsonResponse({"fields": {k: request.POST.getlist(k) for k in request.POST},
                         "len": len(request.body)})


def meta(request):
    keys = ["REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
            "HTTP_HOST", "wsgi.url_scheme"]
    return JsonResponse({k: str(request.META.get(k)) for k in keys} |
                        {"is_secure": request.is_secure(), "host": request.get_host()})


def stream(request):
    return StreamingHttpResponse(("chunk-%d;" % i for i in range(int(request.GET.get("n", 4)))),
                                 content_type="text/plain")


def boom(request):
    raise RuntimeError("django-boom-sentinel")
