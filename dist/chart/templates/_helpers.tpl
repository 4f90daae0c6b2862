{{/*
Helpers are named after the chart ("endpoints-controller.*"), so that they
cannot collide with those of other charts in an umbrella chart: Helm shares
one template namespace between a chart and its subcharts.
*/}}

{{/* The chart's name, or nameOverride. */}}
{{- define "endpoints-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's objects: fullnameOverride, else the release name, prefixed with the name unless it contains it. */}}
{{- define "endpoints-controller.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "endpoints-controller.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of every object: the recommended ones and commonLabels. */}}
{{- define "endpoints-controller.labels" -}}
app.kubernetes.io/name: {{ include "endpoints-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select the controller's Pods. */}}
{{- define "endpoints-controller.selectorLabels" -}}
control-plane: controller-manager
app.kubernetes.io/name: {{ include "endpoints-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The ServiceAccount the controller runs as. */}}
{{- define "endpoints-controller.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "endpoints-controller.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The controller's image: [registry/]repository, then @digest, else :tag (the chart's appVersion by default). */}}
{{- define "endpoints-controller.image" -}}
{{- $image := .Values.image -}}
{{- $repo := $image.repository -}}
{{- with $image.registry }}{{ $repo = printf "%s/%s" . $repo }}{{ end -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $repo $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion $image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The namespace of the leader-election Lease. */}}
{{- define "endpoints-controller.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}

{{/* The name of the metrics Service, which the metrics certificate names. */}}
{{- define "endpoints-controller.metricsServiceName" -}}
{{- printf "%s-metrics" (include "endpoints-controller.fullname" .) -}}
{{- end -}}

{{/* The Secret cert-manager writes the metrics certificate into. */}}
{{- define "endpoints-controller.metricsCertSecret" -}}
{{- printf "%s-metrics-cert" (include "endpoints-controller.fullname" .) -}}
{{- end -}}

{{/*
GOMEMLIMIT for a memory limit (a Kubernetes quantity such as 512Mi or 1G):
goMemLimitPercent of it, in bytes. The Go runtime's soft limit must sit below
the container's hard one: the memory the runtime does not count (stacks of
the OS threads, cgo, fragmentation) needs room before the OOM killer acts.
*/}}
{{- define "endpoints-controller.goMemLimit" -}}
{{- $q := toString .limit -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $suffix := trimPrefix $num $q -}}
{{- $factors := dict "" 1 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 -}}
{{- if or (not $num) (not (hasKey $factors $suffix)) -}}
{{- fail (printf "resources.limits.memory %q: GOMEMLIMIT supports a number with an optional suffix k, M, G, T, Ki, Mi, Gi or Ti" $q) -}}
{{- end -}}
{{- $bytes := mulf (float64 $num) (float64 (get $factors $suffix)) -}}
{{- printf "%.0f" (floor (divf (mulf $bytes (float64 .percent)) 100)) -}}
{{- end -}}

{{/* The name of the leader-election Lease. */}}
{{- define "endpoints-controller.leaseName" -}}
{{- .Values.leaderElection.leaseName -}}
{{- end -}}
