// Validate Istio resources against the schemas Istio publishes in its CRDs (compiled into
// @kubernetes-models/istio). Reads a JSON array of resources on stdin; prints a JSON array of
// {kind, name, error} for each one that fails, and "unknown" for a kind it has no model for.
import { readFileSync } from "node:fs";

const models = {
  "security.istio.io/v1/AuthorizationPolicy": "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy",
  "security.istio.io/v1/PeerAuthentication": "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication",
  "networking.istio.io/v1/DestinationRule": "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule",
  "networking.istio.io/v1/VirtualService": "@kubernetes-models/istio/networking.istio.io/v1/VirtualService",
};

const resources = JSON.parse(readFileSync(0, "utf8"));
const problems = [];
for (const resource of resources) {
  const key = `${resource.apiVersion}/${resource.kind}`;
  const name = resource.metadata?.name;
  if (!(key in models)) {
    problems.push({ kind: key, name, error: "unknown" });
    continue;
  }
  const module = await import(models[key]);
  const Model = module[resource.kind];
  try {
    new Model(resource).validate();
  } catch (error) {
    problems.push({ kind: key, name, error: String(error.message) });
  }
}
process.stdout.write(JSON.stringify(problems));
