"""The flow's URLs, selectors and texts are data: the built-in file, and an override merged over it."""
from __future__ import annotations

import json

import pytest

from logins.flow_data import FlowDataInvalid, load_flow_data


def test_the_built_in_file_offers_several_candidates_for_each_element():
    data = load_flow_data()
    assert len(data.selectors("email_input")) >= 3
    assert "input[name='pinInput']" in data.selectors("code_input")
    assert data.mail["senders"] == ["noreply-googlecloud@google.com"]
    assert data.success_pattern.search("/cid/0a1b-2c?csesidx=123").group("config_id") == "0a1b-2c"


def test_an_override_file_changes_only_what_it_names(tmp_path):
    override = tmp_path / "flow.json"
    override.write_text(json.dumps({"selectors": {"email_input": ["input#new-email"]},
                                    "mail": {"poll_seconds": 0.5}}))
    data = load_flow_data(str(override))
    assert data.selectors("email_input") == ["input#new-email"]
    assert data.selectors("code_input") == load_flow_data().selectors("code_input")
    assert data.mail["poll_seconds"] == 0.5
    assert data.mail["senders"] == ["noreply-googlecloud@google.com"]


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON"),
    (json.dumps({"selectors": {"email_input": "input"}}), "selectors.email_input has the wrong type"),
    (json.dumps({"url_markers": {"success": "(unclosed"}}), "url_markers.success is not a valid regular expression"),
    (json.dumps({"mail": {"wait_windows_seconds": []}}), "mail.wait_windows_seconds"),
])
def test_a_bad_override_is_refused_naming_the_key(tmp_path, content, message):
    override = tmp_path / "flow.json"
    override.write_text(content)
    with pytest.raises(FlowDataInvalid, match=message.replace("(", r"\(")):
        load_flow_data(str(override))


def test_a_missing_override_file_is_named(tmp_path):
    with pytest.raises(FlowDataInvalid, match="cannot read the login flow file .*nowhere.json"):
        load_flow_data(str(tmp_path / "nowhere.json"))
