{{/* Chart name, overridable. */}}
{{- define "maestro.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: the release name when it already contains the chart name ("maestro"). */}}
{{- define "maestro.fullname" -}}
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

{{- define "maestro.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "conductor"). */}}
{{- define "maestro.labels" -}}
helm.sh/chart: {{ include "maestro.chart" .ctx }}
{{ include "maestro.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: maestro
{{- end }}

{{- define "maestro.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maestro.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The runbook's names: maestro-production-config and maestro-production-secrets for the release "maestro". */}}
{{- define "maestro.configMapName" -}}
{{- printf "%s-production-config" (include "maestro.fullname" .) }}
{{- end }}

{{- define "maestro.secretName" -}}
{{- default (printf "%s-production-secrets" (include "maestro.fullname" .)) .Values.existingSecret }}
{{- end }}

{{- define "maestro.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "maestro.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "maestro.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default (printf "v%s" .Chart.AppVersion) .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The variables that carry credentials: from the Secret, never the ConfigMap (src/config SECRET_VARS). */}}
{{- define "maestro.secretKeys" -}}
{{- list "DATABASE_URL" "REDIS_URL" | toJson }}
{{- end }}

{{/*
One value of `config` as a ConfigMap string. Helm reads numbers in values as float64, which would
print 3600000 as "3.6e+06": integers are printed as integers (values.schema.json allows no fractions).
*/}}
{{- define "maestro.configValue" -}}
{{- if kindIs "float64" . }}{{ . | int64 | toString | quote }}{{ else if kindIs "invalid" . }}""{{ else }}{{ . | toString | quote }}{{ end }}
{{- end }}

{{/* The data of the ConfigMap; its checksum rolls the pods when it changes. */}}
{{- define "maestro.configData" -}}
{{- range $key, $value := .Values.config }}
{{ $key }}: {{ include "maestro.configValue" $value }}
{{- end }}
{{- end }}

{{/* Env of the conductor and the migration Job: the ConfigMap, then each secret variable from the Secret. */}}
{{- define "maestro.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "maestro.configMapName" . }}
env:
{{- range (include "maestro.secretKeys" . | fromJsonArray) }}
  - name: {{ . }}
    valueFrom:
      secretKeyRef:
        name: {{ include "maestro.secretName" $ }}
        key: {{ . }}
{{- end }}
{{- end }}

{{/* ceil(ms / 1000) */}}
{{- define "maestro.msToSeconds" -}}
{{- div (add (. | int64) 999) 1000 }}
{{- end }}

{{/* One egress rule to a dependency: {port, to}; no peers means that port anywhere. */}}
{{- define "maestro.egressRule" -}}
- ports:
    - protocol: TCP
      port: {{ .port }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* Egress rules to CIDRs: [{cidr, except, ports}]. */}}
{{- define "maestro.cidrRules" -}}
{{- range . }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
        {{- with .except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
  {{- with .ports }}
  ports:
    {{- range . }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- end }}
{{- end }}
{{- end }}

{{/* DNS egress to the cluster DNS. */}}
{{- define "maestro.dnsRule" -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ .namespace }}
  ports:
    - protocol: UDP
      port: {{ .port }}
    - protocol: TCP
      port: {{ .port }}
{{- end }}
