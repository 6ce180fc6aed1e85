"""What a piece of code leaves for the garbage collector: objects only a collection would free."""
from __future__ import annotations

import gc
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.views import APIView


def cyclic_garbage_of(call: Callable[[], None]) -> list[object]:
    """The objects that only the garbage collector could free once call() has returned (reference cycles and
    what they hold), with automatic collection off meanwhile so none of them is freed early."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        call()
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def request_objects(objects: list[object]) -> list[str]:
    """The views, requests, serializers and responses among `objects`, by class name."""
    return [type(item).__qualname__ for item in objects
            if isinstance(item, (APIView, Request, Serializer, HttpRequest, HttpResponseBase))]
