{{/* The chart's name (nameOverride wins). */}}
{{- define "opsbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release's name when it contains the chart's (a release `opsbot` gives `opsbot`,
as in deploy/base), else `release-opsbot`. */}}
{{- define "opsbot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := include "opsbot.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "opsbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "opsbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "opsbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "opsbot.labels" -}}
helm.sh/chart: {{ include "opsbot.chart" . }}
{{ include "opsbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "opsbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "opsbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "opsbot.configMapName" -}}
{{- default (printf "%s-config" (include "opsbot.fullname" .)) .Values.config.existingConfigMap }}
{{- end }}

{{- define "opsbot.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Values that cannot work together: a short answer at `helm install` time, not a pod that never starts. */}}
{{- define "opsbot.validate" -}}
{{- if and .Values.database.sqlite.enabled (gt (int .Values.replicas) 1) }}
{{- fail (printf "database.sqlite.enabled needs replicas: 1 (got %d): several replicas share one PostgreSQL (docs/deploy.md, \"Several replicas\")" (int .Values.replicas)) }}
{{- end }}
{{- if and .Values.pdb.enabled (not (kindIs "string" .Values.pdb.minAvailable)) (ge (int .Values.pdb.minAvailable) (int .Values.replicas)) }}
{{- fail (printf "pdb.minAvailable (%d) must be below replicas (%d), or no node holding an opsbot pod could drain" (int .Values.pdb.minAvailable) (int .Values.replicas)) }}
{{- end }}
{{- end }}

{{/* The bot's command line, as in deploy/base/deployment.yaml (the image's CMD for serve). */}}
{{- define "opsbot.args" -}}
["opsbot", {{ .Values.transport | quote }}, "--host", "0.0.0.0", "--port", "3000"]
{{- end }}

{{/* DATABASE_URL: from the Secret, or the SQLite file on the data volume. */}}
{{- define "opsbot.databaseEnv" -}}
- name: DATABASE_URL
{{- if .Values.database.sqlite.enabled }}
  value: sqlite:////data/opsbot.db
{{- else }}
  valueFrom: {secretKeyRef: {name: {{ .Values.database.secretName | quote }}, key: {{ .Values.database.key | quote }}}}
{{- end }}
{{- end }}
