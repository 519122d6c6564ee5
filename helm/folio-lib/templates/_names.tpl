{{/*
Names and labels. Every object of a service is named after the service ("catalog"), optionally
prefixed by .Values.global.namePrefix, so addresses stay the ones the services expect
("catalog:50051") while two releases can still share a namespace.
Call with (dict "root" $ "name" "catalog").
*/}}
{{- define "folio-lib.name" -}}
{{- printf "%s%s" (.root.Values.global.namePrefix | default "") .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "folio-lib.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels a selector may use: stable across upgrades. */}}
{{- define "folio-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Every object of a service carries these (the recommended app.kubernetes.io set). */}}
{{- define "folio-lib.labels" -}}
{{ include "folio-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.global.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .component | default "service" }}
app.kubernetes.io/part-of: folio
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "folio-lib.chart" .root }}
{{- end -}}

{{/* Object metadata: name, namespace and labels. */}}
{{- define "folio-lib.metadata" -}}
name: {{ include "folio-lib.name" . }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "folio-lib.labels" . | nindent 2 }}
{{- end -}}

{{/* registry/name:tag, or registry/name@digest when a digest is pinned (svc.image overrides). */}}
{{- define "folio-lib.image" -}}
{{- $image := .root.Values.global.image -}}
{{- $own := .svc.image | default dict -}}
{{- $repository := $own.repository | default (printf "%s/%s" $image.registry .name) -}}
{{- if $own.digest -}}
{{- printf "%s@%s" $repository $own.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository ($own.tag | default $image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}
