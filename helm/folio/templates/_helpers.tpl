{{/*
What only this chart knows: which variables each service reads
(FOLIO_<SVC>_*, FOLIO_AUTH_*, OTEL_*) and where their values come from (values, or Secrets
provisioned by the platform). Call with (dict "root" $ "name" $name "svc" $svc).
*/}}
{{- define "folio.env" -}}
{{- $root := .root -}}
{{- $svc := .svc -}}
{{- $prefix := printf "FOLIO_%s_" (upper .name) -}}
- name: {{ $prefix }}HOST
  value: "0.0.0.0"
- name: {{ $prefix }}PORT
  value: {{ $svc.port | quote }}
{{- if ne $svc.protocol "http" }}
- name: {{ $prefix }}DATA_DIR
  value: /var/lib/folio
{{- end }}
- name: {{ $prefix }}LOG_LEVEL
  value: {{ $root.Values.global.logLevel | quote }}
{{- with $root.Values.observability.metricsPort }}
- name: {{ $prefix }}METRICS_PORT
  value: {{ . | quote }}
{{- end }}
- name: {{ $prefix }}LOG_FORMAT
  value: {{ $root.Values.global.logFormat | quote }}
{{- /* In production the config center's failure-drill flags are refused. */}}
- name: FOLIO_ENVIRONMENT
  value: {{ $root.Values.global.environment | quote }}
{{- with $svc.calls }}
- name: {{ $prefix }}SERVICE_ADDRESSES
  value: {{ include "folio.addresses" (dict "root" $root "calls" .) | quote }}
{{- if $root.Values.mesh.enabled }}
{{- /* The mesh's routes retry what is safe to repeat; a client retrying too would multiply the attempts. */}}
- name: {{ $prefix }}CLIENT_RETRIES
  value: "false"
{{- end }}
{{- end }}
{{- with $svc.database }}{{ with .secretName }}
- name: {{ $prefix }}DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $svc.database.secretKey }}
{{- end }}{{ end }}
{{- with $svc.redis }}{{ with .secretName }}
- name: {{ $prefix }}REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $svc.redis.secretKey }}
{{- end }}{{ end }}
{{- with $svc.graph }}{{ with .secretName }}
- name: {{ $prefix }}GRAPH_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $svc.graph.secretKey }}
{{- end }}{{ end }}
{{- with $svc.qdrantUrl }}
- name: {{ $prefix }}QDRANT_URL
  value: {{ . | quote }}
{{- with $svc.qdrantApiKey }}{{ with .secretName }}
- name: {{ $prefix }}QDRANT_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $svc.qdrantApiKey.secretKey }}
{{- end }}{{ end }}
{{- end }}
{{- with $svc.llm }}
{{- with .baseUrl }}
- name: {{ $prefix }}LLM_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- with .model }}
- name: {{ $prefix }}LLM_MODEL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $svc.sessionSecret }}
- name: {{ $prefix }}SESSION_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .secretKey }}
- name: {{ $prefix }}COOKIE_SECURE
  value: "true"
- name: {{ $prefix }}PUBLIC_URL
  value: {{ printf "https://%s" $root.Values.gateway.host | quote }}
{{- end }}
- name: FOLIO_AUTH_ISSUER_URL
  value: {{ $root.Values.auth.issuerUrl | quote }}
- name: FOLIO_AUTH_AUDIENCE
  value: {{ $root.Values.auth.audience | quote }}
{{- with $root.Values.auth.discoveryUrl }}
- name: FOLIO_AUTH_DISCOVERY_URL
  value: {{ . | quote }}
{{- end }}
{{- with $svc.oidcClient }}
- name: FOLIO_AUTH_CLIENT_ID
  value: {{ .clientId | quote }}
- name: FOLIO_AUTH_CLIENT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .secretKey }}
{{- end }}
{{- with $root.Values.nacos }}{{ if .serverAddresses }}
- name: FOLIO_NACOS_SERVER_ADDRESSES
  value: {{ .serverAddresses | quote }}
- name: FOLIO_NACOS_NAMESPACE
  value: {{ .namespace | quote }}
- name: FOLIO_NACOS_GROUP
  value: {{ .group | quote }}
- name: FOLIO_NACOS_CONNECT_TIMEOUT_SECONDS
  value: {{ .connectTimeoutSeconds | quote }}
- name: FOLIO_ZONE
  value: {{ .zone | quote }}
{{- /* Registered instances carry the Service's name, not the pod's IP: a client dials the name, so the
       mesh keeps mTLS and applies the Service's routes (timeouts, retries, faults). */}}
- name: FOLIO_ADVERTISE_HOST
  value: {{ printf "%s.%s.svc.cluster.local" (include "folio-lib.name" $) $root.Release.Namespace | quote }}
{{- with .credentials }}{{ if .secretName }}
- name: FOLIO_NACOS_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .usernameKey }}
- name: FOLIO_NACOS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .passwordKey }}
{{- end }}{{ end }}
{{- end }}{{ end }}
- name: OTEL_SERVICE_NAME
  value: {{ .name | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=folio,deployment.environment=%s%s" $root.Values.global.environment (ternary (printf ",%s" $root.Values.global.otel.resourceAttributes) "" (ne $root.Values.global.otel.resourceAttributes "")) | quote }}
{{- with $root.Values.global.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ $root.Values.global.otel.protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $root.Values.global.otel.tracesSampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $root.Values.global.otel.tracesSamplerArg | quote }}
{{- if $root.Values.observability.metricsPort }}
{{- /* Prometheus scrapes the metrics port; pushing the same metrics over OTLP too would store them twice. */}}
- name: OTEL_METRICS_EXPORTER
  value: "none"
{{- end }}
{{- end }}
{{- range $key, $value := $svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* FOLIO_<SVC>_SERVICE_ADDRESSES: {"catalog": "catalog:50051", ...} for the services called. */}}
{{- define "folio.addresses" -}}
{{- $root := .root -}}
{{- $addresses := dict -}}
{{- range .calls -}}
{{- $callee := index $root.Values.services . -}}
{{- $_ := set $addresses . (printf "%s:%v" (include "folio-lib.name" (dict "root" $root "name" .)) $callee.port) -}}
{{- end -}}
{{- toJson $addresses -}}
{{- end -}}

{{/* A service keeps its data itself when one of its stores has no platform URL. */}}
{{- define "folio.needsPersistence" -}}
{{- $svc := .svc -}}
{{- $embedded := false -}}
{{- range $store := list "database" "redis" "graph" -}}
{{- with index $svc $store -}}{{- if not .secretName -}}{{- $embedded = true -}}{{- end -}}{{- end -}}
{{- end -}}
{{- if $embedded }}true{{ end -}}
{{- end -}}

{{/* The mesh identity of a service: spiffe-style principal of its service account. */}}
{{- define "folio.principal" -}}
{{- printf "%s/ns/%s/sa/%s" .root.Values.mesh.trustDomain .root.Release.Namespace (include "folio-lib.name" .) -}}
{{- end -}}

{{/* Names of the enabled services that call this one. */}}
{{- define "folio.callers" -}}
{{- $target := .name -}}
{{- $callers := list -}}
{{- range $name, $svc := .root.Values.services -}}
{{- if and $svc.enabled (has $target ($svc.calls | default list)) -}}
{{- $callers = append $callers $name -}}
{{- end -}}
{{- end -}}
{{- toJson $callers -}}
{{- end -}}
