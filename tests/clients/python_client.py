"""Uses the client openapi-python-client generates from the served spec, as a new user would:
create, list, get, patch and delete an integration, read its events and an event's detail,
list eval runs and the outbox. Every answer must parse into the generated models: no None,
no raw dicts, enums as enum members, times as datetime. Run by .ci/clients.sh."""

import datetime
import json
import sys
import urllib.request

from provenant_integrations_client import AuthenticatedClient
from provenant_integrations_client.api.events import get_event, list_events
from provenant_integrations_client.api.integrations import (
    create_integration,
    delete_integration,
    get_integration,
    list_integrations,
    update_integration,
)
from provenant_integrations_client.api.notifications import list_outbox
from provenant_integrations_client.api.runs import list_eval_runs
from provenant_integrations_client.models import (
    EvalRunPage,
    EventDetailOut,
    EventPage,
    EventStatus,
    IntegrationOutGithubIntegrationOut,
    IntegrationOutWebhookIntegrationOut,
    IntegrationPatchWebhookIntegrationPatch,
    NewIntegrationDocNewGithubIntegration,
    NewIntegrationDocNewWebhookIntegration,
    OutboxPage,
    WebhookConfig,
)
from provenant_integrations_client.types import Response

base, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=f"{base}/api", token=token, raise_on_unexpected_status=True)


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")


def parsed(response: Response, model, what):
    check(response.status_code // 100 == 2, f"{what}: status {response.status_code}: {response.content!r}")
    check(isinstance(response.parsed, model), f"{what}: parsed as {type(response.parsed).__name__}, not {model.__name__}")
    return response.parsed


# Create a WEBHOOK and a GITHUB integration: each reads back as its own type.
webhook = parsed(
    create_integration.sync_detailed(
        client=client,
        body=NewIntegrationDocNewWebhookIntegration.from_dict(
            {"type": "WEBHOOK", "name": "from python", "config": {"allow_unverified": True}}
        ),
    ),
    IntegrationOutWebhookIntegrationOut,
    "createIntegration (WEBHOOK)",
)
check(isinstance(webhook.config, WebhookConfig), "a WEBHOOK integration's config is a WebhookConfig")
check(isinstance(webhook.created_at, datetime.datetime), "createdAt is a datetime")
github = parsed(
    create_integration.sync_detailed(
        client=client,
        body=NewIntegrationDocNewGithubIntegration.from_dict(
            {"type": "GITHUB", "name": "repo", "config": {"repo": "octo/py", "webhook_secret": "a-long-python-secret-0123"}}
        ),
    ),
    IntegrationOutGithubIntegrationOut,
    "createIntegration (GITHUB)",
)

listed = list_integrations.sync_detailed(client=client)
check(listed.status_code == 200 and isinstance(listed.parsed, list), "listIntegrations is a list")
kinds = {type(i).__name__ for i in listed.parsed}
check(
    kinds == {"IntegrationOutWebhookIntegrationOut", "IntegrationOutGithubIntegrationOut"},
    f"listIntegrations parses each item as its type: {kinds}",
)
one = parsed(get_integration.sync_detailed(webhook.id, client=client), IntegrationOutWebhookIntegrationOut, "getIntegration")
check(one.id == webhook.id, "getIntegration reads the one asked for")
changed = parsed(
    update_integration.sync_detailed(
        webhook.id,
        client=client,
        body=IntegrationPatchWebhookIntegrationPatch.from_dict(
            {
                "type": "WEBHOOK",
                "name": "renamed from python",
                "config": {"allow_unverified": True, "description": "changed from python"},
            }
        ),
    ),
    IntegrationOutWebhookIntegrationOut,
    "updateIntegration",
)
check(changed.name == "renamed from python", "updateIntegration changed the name")
check(
    isinstance(changed.config, WebhookConfig) and changed.config.description == "changed from python",
    "updateIntegration sent a WebhookConfig and read it back as one",
)

# A delivery (the receiver is for senders, not for this client), then its events.
request = urllib.request.Request(
    webhook.webhook_url,
    data=json.dumps({"event": "drift.critical"}).encode(),
    headers={"content-type": "application/json"},
    method="POST",
)
with urllib.request.urlopen(request) as answer:
    check(answer.status == 202, f"the delivery was accepted: {answer.status}")
events = parsed(list_events.sync_detailed(webhook.id, client=client), EventPage, "listEvents")
check(len(events.items) == 1, "one event")
event = events.items[0]
check(isinstance(event.status, EventStatus), f"an event's status is an EventStatus: {event.status!r}")
check(isinstance(event.received_at, datetime.datetime), "receivedAt is a datetime")
detail = parsed(get_event.sync_detailed(webhook.id, event.id, client=client), EventDetailOut, "getEvent")
check(detail.id == event.id, "getEvent reads the one asked for")

parsed(list_eval_runs.sync_detailed(client=client), EvalRunPage, "listEvalRuns")
parsed(list_outbox.sync_detailed(client=client), OutboxPage, "listOutbox")

for integration in (webhook, github):
    deleted = delete_integration.sync_detailed(integration.id, client=client)
    check(deleted.status_code == 204, f"deleteIntegration: {deleted.status_code}")
check(list_integrations.sync(client=client) == [], "nothing is left")
print("python client: every call parsed into its generated model")
