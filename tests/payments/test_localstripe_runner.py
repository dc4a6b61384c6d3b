"""scripts/run_localstripe.py: a damaged state file is set aside; --state survives restarts."""

import pickle

import requests

from tests.localstripe import free_port, running_localstripe

AUTH = {"Authorization": "Bearer sk_test_runner"}


def test_a_truncated_state_file_is_set_aside_and_the_server_starts(tmp_path):
    state = tmp_path / "localstripe.pickle"
    state.write_bytes(pickle.dumps({"customer:cus_x": "x"})[:10])

    with running_localstripe(free_port(), "--state", str(state)) as base:
        response = requests.get(f"{base}/v1/customers", headers=AUTH, timeout=5)

    assert response.status_code == 200
    assert response.json()["data"] == []
    assert (tmp_path / "localstripe.damaged").read_bytes() == pickle.dumps({"customer:cus_x": "x"})[
        :10
    ]


def test_objects_survive_a_restart_with_state_and_not_without(tmp_path):
    state = tmp_path / "localstripe.pickle"
    port = free_port()
    with running_localstripe(port, "--state", str(state)) as base:
        created = requests.post(
            f"{base}/v1/customers", data={"email": "a@example.com"}, headers=AUTH, timeout=5
        ).json()

    with running_localstripe(port, "--state", str(state)) as base:
        listed = requests.get(f"{base}/v1/customers", headers=AUTH, timeout=5).json()["data"]
        found = requests.get(f"{base}/v1/customers/{created['id']}", headers=AUTH, timeout=5)
    assert [c["id"] for c in listed] == [created["id"]]
    assert found.json()["email"] == "a@example.com"

    with running_localstripe(port) as base:
        assert requests.get(f"{base}/v1/customers", headers=AUTH, timeout=5).json()["data"] == []
