{{/*
The one security posture of every Folio pod: the image's numbered non-root user, no privilege
escalation, no capabilities, a read-only root filesystem and the runtime's default seccomp profile.
Writable paths are volumes (/tmp and the data directory).
*/}}
{{- define "folio-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "folio-lib.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
{{- /* global.dev (skaffold's dev profile only) lets skaffold sync files into the container. */}}
readOnlyRootFilesystem: {{ not .root.Values.global.dev }}
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
