"""The browser shell: home and the user's own history."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from compliance.selectors import request_log_list
from inference.jobs import job_list

HISTORY_ROWS = 100


@login_required
def home(request):
    return render(request, "portal/home.html")


@login_required
def history(request):
    context = {
        "requests": request_log_list(viewer=request.user)[:HISTORY_ROWS],
        "jobs": job_list(viewer=request.user)[:HISTORY_ROWS],
    }
    return render(request, "portal/history.html", context)
