{{/* Names, labels and the few derived values every template shares. */}}

{{- define "twinwire.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "twinwire.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "twinwire.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "twinwire.labels" -}}
helm.sh/chart: {{ include "twinwire.chart" . }}
{{ include "twinwire.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: twinwire
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "twinwire.selectorLabels" -}}
app.kubernetes.io/name: {{ include "twinwire.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Per-component labels: call with (dict "ctx" $ "component" "gateway"). */}}
{{- define "twinwire.componentLabels" -}}
{{ include "twinwire.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "twinwire.componentSelectorLabels" -}}
{{ include "twinwire.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "twinwire.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "twinwire.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: call with (dict "ctx" $ "image" .Values.gateway.image). */}}
{{- define "twinwire.image" -}}
{{- $tag := .image.tag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion -}}
{{- $registry := .ctx.Values.image.registry -}}
{{- if $registry }}
{{- printf "%s/%s:%s" (trimSuffix "/" $registry) .image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* The URL of the built-in Redis, when redis.standalone.enabled. */}}
{{- define "twinwire.standaloneRedisUrl" -}}
{{- printf "redis://%s-redis:6379/0" (include "twinwire.fullname" .) }}
{{- end }}

{{/* TWINWIRE_REDIS__* for both binaries: they override redis.* of the config files. */}}
{{- define "twinwire.redisEnv" -}}
- name: TWINWIRE_REDIS__MODE
  value: {{ .Values.redis.mode | quote }}
- name: TWINWIRE_REDIS__MIN_REPLICAS_ACKED
  value: {{ .Values.redis.minReplicasAcked | toString | quote }}
{{- if eq .Values.redis.mode "cluster" }}
{{- if not .Values.redis.nodes }}
{{- fail "twinwire: redis.mode=cluster needs redis.nodes (seed nodes of the Redis Cluster)" }}
{{- end }}
- name: TWINWIRE_REDIS__NODES
  value: {{ join "," .Values.redis.nodes | quote }}
{{- else if eq .Values.redis.mode "sentinel" }}
{{- if or (not .Values.redis.sentinels) (not .Values.redis.masterName) }}
{{- fail "twinwire: redis.mode=sentinel needs redis.sentinels and redis.masterName" }}
{{- end }}
- name: TWINWIRE_REDIS__SENTINELS
  value: {{ join "," .Values.redis.sentinels | quote }}
- name: TWINWIRE_REDIS__MASTER_NAME
  value: {{ .Values.redis.masterName | quote }}
{{- else }}
- name: TWINWIRE_REDIS__URL
{{- if .Values.redis.existingSecret }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else if .Values.redis.standalone.enabled }}
  value: {{ include "twinwire.standaloneRedisUrl" . | quote }}
{{- else if .Values.redis.url }}
  value: {{ .Values.redis.url | quote }}
{{- else }}
{{- fail "twinwire: set redis.url (an external Redis), redis.existingSecret, or redis.standalone.enabled=true (a single-pod Redis for trying it out), or redis.mode=cluster/sentinel" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The gateway's grace period: the preStop sleep, the whole drain, and 10 s for what follows it (up to
2 s for the last close frames, the deregistering Redis write, stopping both servers). A shorter
explicit value is refused: the kubelet's SIGKILL would cut sessions mid-drain, without a 1001.
*/}}
{{- define "twinwire.gateway.terminationGracePeriodSeconds" -}}
{{- $min := add (int .Values.gateway.preStop.sleepSeconds) (int .Values.gateway.config.drain.period_secs) 10 -}}
{{- $set := .Values.gateway.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $set -}}
{{- $min -}}
{{- else if lt (int $set) (int $min) -}}
{{- fail (printf "twinwire: gateway.terminationGracePeriodSeconds (%d) must be at least preStop.sleepSeconds + config.drain.period_secs + 10 = %d, or the kubelet kills sessions mid-drain" (int $set) (int $min)) -}}
{{- else -}}
{{- int $set -}}
{{- end -}}
{{- end }}

{{/* The name of the Secret holding the htpasswd file. */}}
{{- define "twinwire.htpasswdSecretName" -}}
{{- default (printf "%s-htpasswd" (include "twinwire.fullname" .)) .Values.auth.basic.existingSecret }}
{{- end }}

{{- define "twinwire.jwksSecretName" -}}
{{- default (printf "%s-jwks" (include "twinwire.fullname" .)) .Values.auth.jwks.existingSecret }}
{{- end }}

{{- define "twinwire.jwksEnabled" -}}
{{- if or .Values.auth.jwks.existingSecret .Values.auth.jwks.files }}true{{ end }}
{{- end }}

{{/* Default spread over nodes and zones for a component: (dict "ctx" $ "component" "gateway"). */}}
{{- define "twinwire.defaultTopologySpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "twinwire.componentSelectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "twinwire.componentSelectorLabels" . | nindent 6 }}
{{- end }}

{{/* Checks run once per render: a configuration the gateway would refuse at start fails here. */}}
{{- define "twinwire.validate" -}}
{{- $auth := .Values.gateway.config.auth -}}
{{- if and (not .Values.auth.basic.enabled) $auth.basic.htpasswd_file -}}
{{- fail "twinwire: auth.basic.enabled is false but gateway.config.auth.basic.htpasswd_file is set; set it to \"\" or enable auth.basic" -}}
{{- end -}}
{{- if not (or $auth.basic.htpasswd_file $auth.jwt.issuers $auth.pre_authenticated.enabled) -}}
{{- fail "twinwire: the gateway needs authentication: auth.basic, gateway.config.auth.jwt.issuers or gateway.config.auth.pre_authenticated" -}}
{{- end -}}
{{- if ne (int .Values.gateway.config.shards.count) (int .Values.hub.config.shards.count) -}}
{{- fail "twinwire: gateway.config.shards.count and hub.config.shards.count must be equal" -}}
{{- end -}}
{{- if ne .Values.gateway.config.redis.prefix .Values.hub.config.redis.prefix -}}
{{- fail "twinwire: gateway.config.redis.prefix and hub.config.redis.prefix must be equal" -}}
{{- end -}}
{{- end }}
