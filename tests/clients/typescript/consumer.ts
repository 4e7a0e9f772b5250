// A small consumer of the types openapi-typescript generates from the served spec, written
// with openapi-fetch. It is only type-checked (`tsc --strict --noEmit` in .ci/clients.sh):
// if the spec loses an operationId, a discriminator or a page model, this stops compiling.
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./schema";

type IntegrationOut = components["schemas"]["IntegrationOut"];
type WebhookConfig = components["schemas"]["WebhookConfig"];
type GithubConfig = components["schemas"]["GithubConfig"];
type EventPage = components["schemas"]["EventPage"];

const client = createClient<paths>({
  baseUrl: "http://localhost:4000/api",
  headers: { Authorization: "Bearer <token>" },
});

// `type === "WEBHOOK"` narrows `config` to a WebhookConfig.
export function configOf(integration: IntegrationOut): WebhookConfig | GithubConfig | null {
  if (integration.type === "WEBHOOK") {
    const config: WebhookConfig = integration.config;
    return config;
  }
  if (integration.type === "GITHUB") {
    // One repository, or patterns for many.
    const repos: string[] = integration.config.repos ?? [integration.config.repo ?? ""];
    void repos;
    return integration.config;
  }
  return null;
}

// Operations are named: their answers are typed from `operations`.
type Listed = operations["listIntegrations"]["responses"][200]["content"]["application/json"];
export const firstType = (listed: Listed): IntegrationOut["type"] | undefined => listed[0]?.type;

export async function events(id: string): Promise<EventPage | undefined> {
  const { data, error } = await client.GET("/integrations/{id}/events", {
    params: { path: { id }, query: { limit: 10 } },
  });
  if (error) {
    // Problems are typed too.
    const code: string = error.code;
    void code;
    return undefined;
  }
  // A list call's result is its page model.
  const page: EventPage = data;
  const receivedAt: string = page.items[0]?.receivedAt ?? "";
  void receivedAt;
  return page;
}

export async function create(): Promise<IntegrationOut | undefined> {
  const { data } = await client.POST("/integrations", {
    body: { type: "WEBHOOK", name: "from typescript", config: { allow_unverified: true } },
  });
  return data;
}

// A change names its type, which says which config it takes.
export async function pause(id: string): Promise<IntegrationOut | undefined> {
  const { data } = await client.PATCH("/integrations/{id}", {
    params: { path: { id } },
    body: { type: "WEBHOOK", isActive: false, config: { description: "paused" } },
  });
  return data;
}

export async function wrongConfig(id: string): Promise<void> {
  await client.PATCH("/integrations/{id}", {
    params: { path: { id } },
    // @ts-expect-error a GITHUB config's `app_id` is a number.
    body: { type: "GITHUB", config: { repo: "octo/x", app_id: "42" } },
  });
}
