{{/*
The workload of one service: a Deployment, or a StatefulSet with a PersistentVolumeClaim per pod
when the service keeps its data itself (.svc.persistence.enabled).

Call with (dict "root" $ "name" "catalog" "svc" $svc "env" $envList "component" "backend"):
  svc.port, svc.protocol (grpc | http), svc.replicas, svc.resources, svc.persistence, svc.probes,
  svc.podAnnotations, svc.nodeSelector, svc.tolerations, svc.affinity; env is a list of EnvVar;
  metricsPort (optional): the port the service serves Prometheus metrics on (a "metrics" port).
*/}}
{{- define "folio-lib.workload" -}}
{{- $stateful := and .svc.persistence .svc.persistence.enabled -}}
{{- $g := .root.Values.global -}}
apiVersion: apps/v1
kind: {{ ternary "StatefulSet" "Deployment" $stateful }}
metadata:
  {{- include "folio-lib.metadata" . | nindent 2 }}
  {{- with $g.checkovSkips }}
  annotations:
    {{- range $i, $skip := . }}
    checkov.io/skip{{ add1 $i }}: {{ $skip | quote }}
    {{- end }}
  {{- end }}
spec:
  {{- if $stateful }}
  serviceName: {{ include "folio-lib.name" . }}
  {{- /* An embedded store is one writer: never more than one pod. */}}
  replicas: 1
  {{- else if not (and .svc.autoscaling .svc.autoscaling.enabled) }}
  replicas: {{ .svc.replicas }}
  {{- end }}
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      {{- include "folio-lib.selectorLabels" . | nindent 6 }}
  {{- if not $stateful }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 0
      maxSurge: 1
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "folio-lib.labels" . | nindent 8 }}
        {{- if .root.Values.mesh.enabled }}
        sidecar.istio.io/inject: "true"
        {{- end }}
      annotations:
        {{- with $g.checkovSkips }}
        {{- range $i, $skip := . }}
        checkov.io/skip{{ add1 $i }}: {{ $skip | quote }}
        {{- end }}
        {{- end }}
        {{- if and .metricsPort .root.Values.mesh.enabled }}
        {{- /* Prometheus has no mesh identity: it scrapes the metrics port past the sidecar (plain HTTP,
               reachable only from the monitoring namespace by NetworkPolicy). */}}
        traffic.sidecar.istio.io/excludeInboundPorts: {{ .metricsPort | quote }}
        {{- end }}
        {{- with .svc.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "folio-lib.name" . }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ .svc.terminationGracePeriodSeconds | default 30 }}
      {{- with $g.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "folio-lib.podSecurityContext" . | nindent 8 }}
      {{- with $g.hostAliases }}
      hostAliases:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if $g.topologySpread }}
      topologySpreadConstraints:
        {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - maxSkew: 1
          topologyKey: {{ $key }}
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "folio-lib.selectorLabels" $ | nindent 14 }}
        {{- end }}
      {{- end }}
      {{- with .svc.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .svc.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .svc.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .name }}
          image: {{ include "folio-lib.image" . }}
          imagePullPolicy: {{ $g.image.pullPolicy }}
          ports:
            - name: {{ .svc.protocol }}
              containerPort: {{ .svc.port }}
              protocol: TCP
            {{- with .metricsPort }}
            - name: metrics
              containerPort: {{ . }}
              protocol: TCP
            {{- end }}
          {{- with .env }}
          env:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- include "folio-lib.probes" . | nindent 10 }}
          {{- /* Endpoints and the mesh's sidecars learn of a terminating pod a moment after it gets
                 SIGTERM: keep serving that long, so a rollout drops no request. */}}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $g.preStopSeconds | default 5 | quote }}]
          resources:
            {{- toYaml .svc.resources | nindent 12 }}
          securityContext:
            {{- include "folio-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: data
              mountPath: /var/lib/folio
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if not $stateful }}
        - name: data
          emptyDir:
            sizeLimit: {{ .svc.scratchSize | default "256Mi" }}
        {{- end }}
  {{- if $stateful }}
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: Retain
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- /* Selector labels only: claim templates are immutable, the version label is not. */}}
          {{- include "folio-lib.selectorLabels" . | nindent 10 }}
      spec:
        accessModes: ["ReadWriteOnce"]
        {{- with (.svc.persistence.storageClass | default $g.storageClass) }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .svc.persistence.size }}
  {{- end }}
{{- end -}}

{{/*
Probes: native gRPC probes against the standard health service for gRPC services, /healthz
(alive) and /readyz (can serve) for HTTP. The startup probe gives slow starts (migrations,
loading models) room without making liveness lax.
*/}}
{{- define "folio-lib.probes" -}}
{{- $p := .svc.probes | default dict -}}
{{- if eq .svc.protocol "grpc" }}
startupProbe:
  grpc:
    port: {{ .svc.port }}
  periodSeconds: 2
  failureThreshold: {{ $p.startupFailureThreshold | default 30 }}
readinessProbe:
  grpc:
    port: {{ .svc.port }}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
livenessProbe:
  grpc:
    port: {{ .svc.port }}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
{{- else }}
startupProbe:
  httpGet:
    path: /healthz
    port: {{ .svc.protocol }}
  periodSeconds: 2
  failureThreshold: {{ $p.startupFailureThreshold | default 30 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .svc.protocol }}
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .svc.protocol }}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
{{- end }}
{{- end -}}

{{/* The Service in front of the pods; its port name tells Istio the protocol. */}}
{{- define "folio-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "folio-lib.metadata" . | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "folio-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ .svc.protocol }}
      port: {{ .svc.port }}
      targetPort: {{ .svc.protocol }}
      protocol: TCP
      appProtocol: {{ ternary "grpc" "http" (eq .svc.protocol "grpc") }}
    {{- with .metricsPort }}
    - name: metrics
      port: {{ . }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
    {{- end }}
{{- end -}}

{{/* The service account a pod runs as: its identity for Istio's AuthorizationPolicies. */}}
{{- define "folio-lib.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "folio-lib.metadata" . | nindent 2 }}
automountServiceAccountToken: false
{{- end -}}

{{/* CPU-based autoscaling of a stateless service. */}}
{{- define "folio-lib.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "folio-lib.metadata" . | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "folio-lib.name" . }}
  minReplicas: {{ .svc.autoscaling.minReplicas }}
  maxReplicas: {{ .svc.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .svc.autoscaling.targetCPUUtilizationPercentage }}
{{- end -}}

{{/* Voluntary disruptions (drains, upgrades) keep this many pods serving. */}}
{{- define "folio-lib.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "folio-lib.metadata" . | nindent 2 }}
spec:
  minAvailable: {{ .svc.pdb.minAvailable }}
  selector:
    matchLabels:
      {{- include "folio-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
