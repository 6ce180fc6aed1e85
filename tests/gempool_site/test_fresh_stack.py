"""DjangoOnFreshStack: under gevent each call of the application runs on a greenlet of its own."""
from __future__ import annotations

import textwrap

from gempool_site.fresh_stack import DjangoOnFreshStack
from tests.script_run import assert_script_prints_ok


def test_outside_gevent_the_call_is_passed_straight_on():
    seen = []

    def app(environ, start_response):
        seen.append((environ, start_response))
        return [b"body"]

    assert DjangoOnFreshStack(app)({"PATH_INFO": "/"}, print) == [b"body"]
    assert seen == [({"PATH_INFO": "/"}, print)]


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import gevent
    from greenlet import getcurrent
    import gempool_site.fresh_stack as fresh_stack

    released = []
    fresh_stack.release_connections = lambda: released.append(getcurrent())

    ran_on = []
    def app(environ, start_response):
        environ["ran_on"] = getcurrent()
        ran_on.append(environ["ran_on"])
        gevent.sleep(0.01)  # a wait on the hub in the middle, as a query or an upstream call makes
        if environ.get("fail"):
            raise LookupError("from the app")
        start_response("200 OK", [])
        return [b"answer", environ["n"]]

    wrapped = fresh_stack.DjangoOnFreshStack(app)

    def connection(n):
        caller = getcurrent()
        started = []
        environ = {"n": n}
        body = wrapped(environ, lambda status, headers: started.append((status, getcurrent())))
        assert body == [b"answer", n], body
        child = environ["ran_on"]
        # It ran on a greenlet of its own, a child of the caller's, which is over (its frames freed), and
        # start_response and the connection release ran there too.
        assert child is not caller and child.parent is caller and child.dead
        assert started == [("200 OK", child)], started
        assert child in released
        failing = {"fail": True}
        try:
            wrapped(failing, None)
        except LookupError as exc:
            assert str(exc) == "from the app"
        else:
            raise AssertionError("the app's exception was lost")
        assert failing["ran_on"] is not caller and failing["ran_on"] in released  # given back when it raised
        return n

    # Several connections at once, each waiting in the middle of its call: every answer reaches its caller.
    calls = [gevent.spawn(connection, n) for n in range(20)]
    gevent.joinall(calls, raise_error=True)
    assert sorted(call.value for call in calls) == list(range(20))
    assert len(set(map(id, ran_on))) == 40
    print("ok")
""")


def test_under_gevent_each_call_runs_on_a_child_greenlet_that_is_over_when_the_call_returns():
    assert_script_prints_ok(GEVENT_SCRIPT)


def test_the_wsgi_entry_point_runs_django_on_a_fresh_stack():
    from gempool_site import wsgi

    layers, app = [], wsgi.application
    while hasattr(app, "app"):
        layers.append(type(app).__name__)
        app = app.app
    assert layers[-1] == "DjangoOnFreshStack" and app is wsgi.django_application, layers
