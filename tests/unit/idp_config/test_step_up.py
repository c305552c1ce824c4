"""Step-up in the realm's representation: the LoA browser flow, the ACR map, a client's minimum ACR."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from idp_config import DEFAULT_REALM_FILE, load_realm
from idp_config.flows import FLOW_ALIAS
from idp_config.model import ClientSpec
from idp_config.representation import client_representation, realm_representation


def test_realm_binds_the_step_up_flow_and_maps_acr_to_levels() -> None:
    spec = load_realm(DEFAULT_REALM_FILE)
    realm = realm_representation(spec)
    assert realm["browserFlow"] == FLOW_ALIAS
    assert json.loads(realm["attributes"]["acr.loa.map"]) == {"1": 1, "2": 2}
    dashboard = next(c for c in spec.clients if c.client_id == "audit-dashboard")
    assert client_representation(dashboard, None)["attributes"]["minimum.acr.value"] == "2"
    gradebook = next(c for c in spec.clients if c.client_id == "demo-gradebook")
    assert "minimum.acr.value" not in client_representation(gradebook, None)["attributes"]


def test_minimum_acr_takes_only_known_levels() -> None:
    with pytest.raises(ValidationError):
        ClientSpec(client_id="x", access_type="web", minimum_acr="gold")  # type: ignore[arg-type]
