{{/* Names and labels shared by every object of the release. */}}
{{- define "azbatch-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "azbatch-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "azbatch-operator.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "azbatch-operator.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "azbatch-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "azbatch-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "azbatch-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "azbatch-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: azbatch-operator
{{- end }}

{{- define "azbatch-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "azbatch-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "azbatch-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
RBAC objects read from a kustomize manifest of deploy/ (files/ links to it, so the chart's rules
are deploy/'s rules): each document keeps its kind and rules; names, namespaces, labels and
subjects are the release's. Call with (dict "root" $ "file" "files/rbac.yaml").
*/}}
{{- define "azbatch-operator.rbacFrom" -}}
{{- $root := .root }}
{{- $fullname := include "azbatch-operator.fullname" $root }}
{{- range $doc := regexSplit "(?m)^---\\s*$" ($root.Files.Get .file) -1 }}
{{- $obj := fromYaml $doc }}
{{- if and $obj $obj.kind }}
{{- $meta := dict "name" ($obj.metadata.name | replace "azbatch-operator" $fullname) "labels" (fromYaml (include "azbatch-operator.labels" $root)) }}
{{- if or (eq $obj.kind "Role") (eq $obj.kind "RoleBinding") }}
{{- $_ := set $meta "namespace" $root.Release.Namespace }}
{{- end }}
{{- $_ := set $obj "metadata" $meta }}
{{- if $obj.roleRef }}
{{- $_ := set $obj.roleRef "name" ($obj.roleRef.name | replace "azbatch-operator" $fullname) }}
{{- $_ := set $obj "subjects" (list (dict "kind" "ServiceAccount" "name" (include "azbatch-operator.serviceAccountName" $root) "namespace" $root.Release.Namespace)) }}
{{- end }}
---
{{ toYaml $obj }}
{{- end }}
{{- end }}
{{- end }}
