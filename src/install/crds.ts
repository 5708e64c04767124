/**
 * CustomResourceDefinitions for the Istio kinds mini-pilot serves (networking
 * and security). Group, kinds, plurals and versions come from the Kubernetes
 * source's own table (src/sources/kube/resources.ts), so what is installed is
 * exactly what is watched: v1 stored, the older versions (v1beta1, and
 * v1alpha3 for networking) served with the same schema (they are the same API
 * in Istio; only the version string differs).
 */
import type { Kind } from "../model/types";
import { ISTIO_TYPES, type ResourceType } from "../sources/kube/resources";
import {
  AUTHORIZATION_POLICY_SPEC,
  DESTINATION_RULE_SPEC,
  GATEWAY_SPEC,
  PEER_AUTHENTICATION_SPEC,
  SERVICE_ENTRY_SPEC,
  SIDECAR_SPEC,
  VIRTUAL_SERVICE_SPEC,
} from "./istio-schemas";
import type { Schema } from "./schema";
import { LABELS, type K8sObject } from "./objects";

interface CrdExtras {
  spec: Schema;
  shortNames: string[];
  singular: string;
  columns: { name: string; type: string; jsonPath: string; description: string }[];
}

const EXTRAS: Partial<Record<Kind, CrdExtras>> = {
  VirtualService: {
    spec: VIRTUAL_SERVICE_SPEC,
    shortNames: ["vs"],
    singular: "virtualservice",
    columns: [
      { name: "Gateways", type: "string", jsonPath: ".spec.gateways", description: "The gateways the rules apply to." },
      { name: "Hosts", type: "string", jsonPath: ".spec.hosts", description: "The destination hosts the rules apply to." },
    ],
  },
  DestinationRule: {
    spec: DESTINATION_RULE_SPEC,
    shortNames: ["dr"],
    singular: "destinationrule",
    columns: [{ name: "Host", type: "string", jsonPath: ".spec.host", description: "The service the policy applies to." }],
  },
  Gateway: { spec: GATEWAY_SPEC, shortNames: ["gw"], singular: "gateway", columns: [] },
  ServiceEntry: {
    spec: SERVICE_ENTRY_SPEC,
    shortNames: ["se"],
    singular: "serviceentry",
    columns: [
      { name: "Hosts", type: "string", jsonPath: ".spec.hosts", description: "The hosts the entry adds." },
      { name: "Location", type: "string", jsonPath: ".spec.location", description: "Inside or outside the mesh." },
      { name: "Resolution", type: "string", jsonPath: ".spec.resolution", description: "How the endpoints are found." },
    ],
  },
  Sidecar: { spec: SIDECAR_SPEC, shortNames: [], singular: "sidecar", columns: [] },
  PeerAuthentication: {
    spec: PEER_AUTHENTICATION_SPEC,
    shortNames: ["pa"],
    singular: "peerauthentication",
    columns: [{ name: "Mode", type: "string", jsonPath: ".spec.mtls.mode", description: "The mutual TLS mode of the workloads the policy applies to." }],
  },
  AuthorizationPolicy: {
    spec: AUTHORIZATION_POLICY_SPEC,
    shortNames: ["ap"],
    singular: "authorizationpolicy",
    columns: [{ name: "Action", type: "string", jsonPath: ".spec.action", description: "The action to take when a rule is matched." }],
  },
};

const AGE = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "When the object was created." };

function crd(t: ResourceType): K8sObject {
  const extras = EXTRAS[t.kind];
  if (!extras) throw new Error(`no CRD schema for ${t.kind}`);
  const schema = {
    type: "object",
    properties: {
      spec: extras.spec,
      // Istio's controllers write status (conditions, validation messages) in their own shape;
      // mini-pilot never reads or writes it, so it is kept as written.
      status: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
    },
  };
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${t.plural}.${t.group}`, labels: { ...LABELS } },
    spec: {
      group: t.group,
      names: {
        kind: t.kind,
        listKind: `${t.kind}List`,
        plural: t.plural,
        singular: extras.singular,
        shortNames: extras.shortNames,
        // Istio's categories: "kubectl get istio-io" lists every kind, "security-istio-io" one group's.
        categories: ["istio-io", `${t.group.split(".")[0]}-istio-io`],
      },
      scope: t.namespaced ? "Namespaced" : "Cluster",
      versions: t.versions.map((name, i) => ({
        name,
        served: true,
        storage: i === 0,
        schema: { openAPIV3Schema: schema },
        subresources: { status: {} },
        additionalPrinterColumns: [...extras.columns, AGE],
      })),
    },
  };
}

/** One CRD per Istio kind the Kubernetes source watches. */
export function istioCrds(): K8sObject[] {
  return ISTIO_TYPES.map(crd);
}
