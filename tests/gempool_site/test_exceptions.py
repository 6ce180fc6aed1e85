"""The application's error tree: one handler renders every member, and no name clashes with the upstream tree."""
from __future__ import annotations

import inspect

from accounts.config_io import ConfigInvalid
from gemini_enterprise import errors as upstream_errors
from gempool_site import exceptions
from gempool_site.exceptions import BadRequestError, GempoolError, api_exception_handler


def _exception_classes_defined_in(module) -> set[str]:
    return {name for name, value in vars(module).items()
            if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ == module.__name__}


def test_no_error_class_name_is_defined_in_both_trees():
    application = _exception_classes_defined_in(exceptions)
    upstream = _exception_classes_defined_in(upstream_errors)
    assert application and upstream
    assert application & upstream == set()


def test_a_config_problem_is_part_of_the_tree_and_renders_every_problem():
    problems = [f"accounts[{i}].team_id: This field is required." for i in range(7)]
    response = api_exception_handler(ConfigInvalid(problems), {"view": None})
    assert issubclass(ConfigInvalid, BadRequestError) and issubclass(ConfigInvalid, GempoolError)
    assert response.status_code == 400
    error = response.data["error"]
    assert error["code"] == "invalid_config" and error["type"] == "invalid_request_error"
    assert error["problems"] == problems
    assert error["message"].startswith("The config is invalid; nothing was changed. accounts[0].team_id")
    assert "accounts[5]" not in error["message"]  # the message quotes the first five; `problems` has them all


def test_an_error_without_extras_has_exactly_the_openai_envelope():
    response = api_exception_handler(BadRequestError("bad", param="model"), {"view": None})
    assert response.data == {"error": {"message": "bad", "type": "invalid_request_error", "param": "model",
                                       "code": None}}
