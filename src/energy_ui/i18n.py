"""Every piece of user text of the dashboard and the command line, in Spanish and English, and
how numbers read.

Variable labels and units come from ``energy_core.telemetry.catalogue`` and health state names from
``energy_core.health.analysis.HealthState``; everything else the user reads is a key of ``TEXTS``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from energy_core.telemetry.catalogue import Language, variable
from energy_core.telemetry.readings import Origin

LANGUAGES: Final[tuple[Language, ...]] = ("es", "en")

TEXTS: Final[dict[str, dict[Language, str]]] = {
    # header
    "app.title": {"es": "SmartEnergy", "en": "SmartEnergy"},
    "app.subtitle": {
        "es": "Telemetría eléctrica en vivo con detección de anomalías",
        "en": "Live electrical telemetry with anomaly detection",
    },
    "mode.memory": {"es": "Demo en memoria", "en": "In-memory demo"},
    "mode.postgres": {"es": "PostgreSQL", "en": "PostgreSQL"},
    "connection.online": {"es": "Conectado", "en": "Connected"},
    "connection.offline": {"es": "Reconectando…", "en": "Reconnecting…"},
    "live.switch": {"es": "En vivo", "en": "Live"},
    "live.paused": {"es": "En pausa", "en": "Paused"},
    "language.label": {"es": "Idioma", "en": "Language"},
    # status panel
    "status.readings": {"es": "Lecturas almacenadas", "en": "Readings stored"},
    "status.last_reading": {
        "es": "Última lectura #{id} · {time}",
        "en": "Latest reading #{id} · {time}",
    },
    "status.no_readings": {"es": "Aún no hay lecturas", "en": "No readings yet"},
    "status.model": {"es": "Modelo", "en": "Model"},
    "status.model_version": {"es": "v{version}", "en": "v{version}"},
    "status.model_trained": {
        "es": "entrenado {time} con {rows} lecturas",
        "en": "trained {time} on {rows} readings",
    },
    "status.no_model": {"es": "Sin modelo entrenado", "en": "No trained model"},
    "status.no_model_hint": {
        "es": "Pulse «Entrenar modelo» (o `smartenergy train`) para crear uno.",
        "en": "Press “Train model” (or `smartenergy train`) to create one.",
    },
    "status.analysis": {"es": "Último análisis", "en": "Latest analysis"},
    "status.analysis_detail": {
        "es": "{anomalies} de {total} lecturas anómalas",
        "en": "{anomalies} of {total} readings anomalous",
    },
    "status.no_analysis": {"es": "Sin análisis todavía", "en": "No analysis yet"},
    "status.delta": {"es": "{delta} pp vs. el anterior", "en": "{delta} pp vs. previous"},
    "status.no_delta": {"es": "primer análisis", "en": "first analysis"},
    "status.health": {"es": "Estado de salud", "en": "Health state"},
    "status.health_unknown": {"es": "Sin datos", "en": "No data"},
    "status.health_hint": {
        "es": "Precaución desde {caution} %, crítico desde {critical} %",
        "en": "Caution from {caution} %, critical from {critical} %",
    },
    # filters
    "filters.title": {"es": "Filtros", "en": "Filters"},
    "filters.dates": {"es": "Rango de fechas (UTC)", "en": "Date range (UTC)"},
    "filters.variables": {"es": "Variables", "en": "Variables"},
    "filters.variables_all": {"es": "Todas ({count})", "en": "All ({count})"},
    "filters.variables_some": {"es": "{count} de {total}", "en": "{count} of {total}"},
    "filters.state": {"es": "Estado", "en": "State"},
    "filters.state_all": {"es": "Todos", "en": "All"},
    "filters.state_normal": {"es": "Normal", "en": "Normal"},
    "filters.state_anomalous": {"es": "Anómalo", "en": "Anomalous"},
    "filters.meters": {"es": "Medidores", "en": "Meters"},
    "filters.meters_all": {"es": "Todos los medidores", "en": "All meters"},
    "filters.sampling": {"es": "Muestreo de gráficos (filas)", "en": "Chart sampling (rows)"},
    "filters.row_limit": {"es": "Límite de filas de la tabla", "en": "Table row limit"},
    "filters.reset": {"es": "Quitar filtros", "en": "Clear filters"},
    # actions
    "actions.title": {"es": "Acciones", "en": "Actions"},
    "actions.train": {"es": "Entrenar modelo", "en": "Train model"},
    "actions.recalculate": {"es": "Recalcular métricas", "en": "Recalculate metrics"},
    "actions.running": {"es": "En curso: {job}", "en": "Running: {job}"},
    "actions.busy": {
        "es": "Ya hay una tarea en curso ({job}); espere a que termine.",
        "en": "A task is already running ({job}); wait for it to finish.",
    },
    "actions.trained": {
        "es": "Modelo v{version} entrenado con {rows} lecturas",
        "en": "Model v{version} trained on {rows} readings",
    },
    "actions.recalculated": {
        "es": "Métricas recalculadas: {percentage} % anómalas ({health})",
        "en": "Metrics recalculated: {percentage} % anomalous ({health})",
    },
    "actions.failed": {"es": "La tarea falló: {error}", "en": "The task failed: {error}"},
    "actions.need_model": {
        "es": "Primero entrene un modelo.",
        "en": "Train a model first.",
    },
    # maintenance
    "maintenance.title": {"es": "Mantenimiento", "en": "Maintenance"},
    "maintenance.generate": {
        "es": "Generar dataset histórico",
        "en": "Generate historical dataset",
    },
    "maintenance.generate_confirm": {
        "es": "¿Generar {count} lecturas simuladas que terminan ahora?",
        "en": "Generate {count} simulated readings ending now?",
    },
    "maintenance.generated": {
        "es": "{count} lecturas generadas",
        "en": "{count} readings generated",
    },
    "maintenance.reset": {"es": "Reiniciar base de datos", "en": "Reset database"},
    "maintenance.reset_confirm": {
        "es": "¿Vaciar lecturas y métricas y repoblar con {count} lecturas? No se puede deshacer.",
        "en": "Empty readings and metrics and repopulate {count} readings? This cannot be undone.",
    },
    "maintenance.reset_done": {
        "es": "Base de datos reiniciada con {count} lecturas",
        "en": "Database reset with {count} readings",
    },
    "dialog.confirm": {"es": "Confirmar", "en": "Confirm"},
    "dialog.cancel": {"es": "Cancelar", "en": "Cancel"},
    # tabs
    "tab.general": {"es": "Análisis general", "en": "General analysis"},
    "tab.variables": {"es": "Variables energéticas", "en": "Energy variables"},
    "tab.comparatives": {"es": "Comparativas", "en": "Comparatives"},
    "tab.anomalies": {"es": "Detección de anomalías", "en": "Anomaly detection"},
    "tab.records": {"es": "Tabla de registros", "en": "Records table"},
    "tab.meters": {"es": "Medidores", "en": "Meters"},
    "tab.alerts": {"es": "Alertas", "en": "Alerts"},
    "view.loading": {"es": "Cargando…", "en": "Loading…"},
    "view.no_variables": {
        "es": "Seleccione al menos una variable.",
        "en": "Select at least one variable.",
    },
    "view.empty": {
        "es": "Ninguna lectura coincide con los filtros.",
        "en": "No reading matches the filters.",
    },
    # general tab
    "kpi.readings": {"es": "Lecturas en la vista", "en": "Readings in view"},
    "kpi.flagged": {"es": "Anómalas en la vista", "en": "Anomalous in view"},
    "kpi.share": {"es": "Proporción anómala", "en": "Anomalous share"},
    "kpi.meters": {"es": "Medidores", "en": "Meters"},
    "kpi.span": {"es": "Periodo", "en": "Period"},
    "kpi.quality": {"es": "Precisión / exhaustividad / F1", "en": "Precision / recall / F1"},
    "kpi.quality_none": {"es": "sin verdad de terreno", "en": "no ground truth"},
    "chart.gauge": {"es": "Salud (último análisis)", "en": "Health (latest analysis)"},
    "chart.gauge_unit": {"es": "% anómalas", "en": "% anomalous"},
    "chart.history": {"es": "Historial de análisis", "en": "Analysis history"},
    "chart.by_variable": {"es": "Anomalías por variable", "en": "Anomalies by variable"},
    "chart.by_variable_axis": {"es": "lecturas anómalas", "en": "anomalous readings"},
    "chart.percentage_axis": {"es": "% anómalas", "en": "% anomalous"},
    "chart.caution": {"es": "Precaución", "en": "Caution"},
    "chart.critical": {"es": "Crítico", "en": "Critical"},
    "table.variable": {"es": "Variable", "en": "Variable"},
    "table.mean": {"es": "Media", "en": "Mean"},
    "table.minimum": {"es": "Mínimo", "en": "Minimum"},
    "table.maximum": {"es": "Máximo", "en": "Maximum"},
    "table.flagged": {"es": "Anomalías explicadas", "en": "Anomalies explained"},
    # variables tab
    "chart.series": {"es": "{variable} en el tiempo", "en": "{variable} over time"},
    "chart.histogram": {"es": "Distribución", "en": "Distribution"},
    "chart.count": {"es": "lecturas", "en": "readings"},
    "chart.time": {"es": "tiempo (UTC)", "en": "time (UTC)"},
    "series.mean": {"es": "media", "en": "mean"},
    "series.low": {"es": "mínimo", "en": "minimum"},
    "series.high": {"es": "máximo", "en": "maximum"},
    "series.envelope": {"es": "mín–máx", "en": "min–max"},
    "series.expected": {"es": "rango esperado", "en": "expected range"},
    "series.flagged_in_bucket": {
        "es": "anomalías en el intervalo",
        "en": "anomalies in the interval",
    },
    "series.flagged": {"es": "anomalías", "en": "anomalies"},
    "series.normal": {"es": "normales", "en": "normal"},
    "series.anomalous": {"es": "anómalas", "en": "anomalous"},
    "chart.zoom_hint": {
        "es": "Amplíe con la barra inferior, arrastrando o con Ctrl + rueda: la vista ampliada"
        " se consulta con más detalle.",
        "en": "Zoom with the bottom bar, by dragging or with Ctrl + wheel: the zoomed span is"
        " queried at finer resolution.",
    },
    "chart.expected_hint": {
        "es": "En gris, el rango esperado: contra lo que el modelo comparó cada lectura (en las"
        " {count} lecturas más recientes del medidor; amplíe para verlo antes).",
        "en": "In grey, the expected range: what the model compared each reading against (over"
        " the meter's {count} newest readings; zoom in to see it earlier).",
    },
    "chart.expected_one_meter": {
        "es": "Filtre un solo medidor para ver el rango esperado de cada lectura.",
        "en": "Filter one meter to see each reading's expected range.",
    },
    # comparatives tab
    "chart.matrix": {"es": "Matriz de dispersión", "en": "Scatter matrix"},
    "chart.matrix_hint": {
        "es": "Cada panel cruza dos variables; en rojo las lecturas marcadas por el modelo.",
        "en": "Each panel crosses two variables; in red the readings the model flagged.",
    },
    "chart.matrix_need_two": {
        "es": "Seleccione al menos dos variables.",
        "en": "Select at least two variables.",
    },
    # anomalies tab
    "chart.scores": {"es": "Puntuación de anomalía", "en": "Anomaly score"},
    "chart.score_axis": {
        "es": "puntuación (mayor = más anómala)",
        "en": "score (higher = more anomalous)",
    },
    "series.scores": {"es": "puntuación", "en": "score"},
    "series.threshold": {"es": "umbral", "en": "threshold"},
    "anomalies.table": {"es": "Anomalías detectadas", "en": "Detected anomalies"},
    "anomalies.no_model": {
        "es": "Sin modelo no hay anomalías: entrene uno primero.",
        "en": "Without a model there are no anomalies: train one first.",
    },
    "column.id": {"es": "Id", "en": "Id"},
    "column.time": {"es": "Fecha y hora (UTC)", "en": "Date and time (UTC)"},
    "column.meter": {"es": "Medidor", "en": "Meter"},
    "column.state": {"es": "Estado", "en": "State"},
    "column.score": {"es": "Puntuación", "en": "Score"},
    "column.why": {"es": "Motivo", "en": "Why"},
    # why a reading was flagged: the detector's view that fired (Reading.flagged_by)
    "flagged_by.point": {"es": "salto brusco", "en": "sudden jump"},
    "flagged_by.stuck": {"es": "valor congelado", "en": "value stuck"},
    "flagged_by.profile": {"es": "inusual para esta hora", "en": "unusual for this hour"},
    "flagged_by.collective": {
        "es": "deriva o combinación inusual",
        "en": "drift or unusual combination",
    },
    "flagged_by.explained": {"es": "{reason}: {variables}", "en": "{reason}: {variables}"},
    "column.kind": {"es": "Tipo simulado", "en": "Simulated kind"},
    "state.normal": {"es": "Normal", "en": "Normal"},
    "state.anomalous": {"es": "Anómalo", "en": "Anomalous"},
    "state.unscored": {"es": "Sin puntuar", "en": "Unscored"},
    "table.rows_per_page": {"es": "Filas por página:", "en": "Rows per page:"},
    # records tab
    "records.download": {"es": "Descargar CSV", "en": "Download CSV"},
    "records.caption": {
        "es": "{shown} filas más recientes de {total} que cumplen los filtros",
        "en": "{shown} most recent rows of {total} matching the filters",
    },
    # access
    "login.button": {"es": "Iniciar sesión", "en": "Log in"},
    "login.logout": {"es": "Cerrar sesión", "en": "Log out"},
    "login.admin": {"es": "Administrador", "en": "Administrator"},
    "login.title": {"es": "Acceso de administrador", "en": "Administrator login"},
    "login.password": {"es": "Contraseña", "en": "Password"},
    "login.submit": {"es": "Entrar", "en": "Log in"},
    "login.wrong": {"es": "Contraseña incorrecta.", "en": "Wrong password."},
    "login.welcome": {
        "es": "Sesión iniciada como administrador",
        "en": "Logged in as administrator",
    },
    "login.bye": {"es": "Sesión cerrada", "en": "Logged out"},
    "login.required": {
        "es": "Esta acción requiere iniciar sesión como administrador.",
        "en": "This action needs an administrator login.",
    },
    "login.actions_hint": {
        "es": "Inicie sesión como administrador para entrenar, recalcular, cargar o mantener.",
        "en": "Log in as administrator to train, recalculate, upload or maintain.",
    },
    "login.read_required": {
        "es": "Inicie sesión para ver el panel.",
        "en": "Log in to see the dashboard.",
    },
    # CSV upload
    "upload.title": {"es": "Cargar lecturas (CSV)", "en": "Upload readings (CSV)"},
    "upload.job": {"es": "Cargar CSV", "en": "Upload CSV"},
    "upload.hint": {
        "es": "Cabecera con meter_id, timestamp y las variables que envía cada medidor;"
        " mismas reglas que `smartenergy import`.",
        "en": "A header with meter_id, timestamp and the variables your meters send;"
        " the same rules as `smartenergy import`.",
    },
    "upload.done": {
        "es": "{file}: {lines} líneas, {accepted} aceptadas, {rejected} rechazadas",
        "en": "{file}: {lines} lines, {accepted} accepted, {rejected} rejected",
    },
    "upload.rejected_title": {
        "es": "Líneas rechazadas de {file}",
        "en": "Rejected lines of {file}",
    },
    "upload.more": {
        "es": "Se muestran las primeras {shown} de {count} rechazos.",
        "en": "Showing the first {shown} of {count} rejections.",
    },
    "upload.bad_file": {"es": "{file}: {error}", "en": "{file}: {error}"},
    "upload.not_text": {
        "es": "{file} no es texto UTF-8 (línea {line}, byte {byte}); guárdelo como UTF-8."
        " No se guardó nada.",
        "en": "{file} is not UTF-8 text (line {line}, byte {byte}); save it as UTF-8."
        " Nothing was stored.",
    },
    "upload.failed": {
        "es": "{file}: la carga se detuvo por un error interno; las líneas anteriores pueden"
        " haberse guardado. Detalles en el registro del servidor.",
        "en": "{file}: the upload stopped on an internal error; earlier lines may have been"
        " stored. Details are in the server log.",
    },
    "column.line": {"es": "Línea", "en": "Line"},
    "column.field": {"es": "Campo", "en": "Field"},
    "column.value": {"es": "Valor", "en": "Value"},
    "column.reason": {"es": "Motivo", "en": "Reason"},
    "dialog.close": {"es": "Cerrar", "en": "Close"},
    # database
    "database.unavailable": {
        "es": "Base de datos no disponible: se reintenta cada pocos segundos; lo que se muestra"
        " puede estar desactualizado.",
        "en": "Database unavailable: retrying every few seconds; what is shown may be out of date.",
    },
    "database.back": {
        "es": "Base de datos disponible de nuevo",
        "en": "Database available again",
    },
    "actions.unavailable": {
        "es": "Base de datos no disponible; inténtelo más tarde.",
        "en": "Database unavailable; try again later.",
    },
    # fire drill
    "drill.button": {"es": "Qué detecta este modelo", "en": "What this model catches"},
    "drill.title": {
        "es": "Simulacro: qué fallos detecta el modelo",
        "en": "Fire drill: which faults the model catches",
    },
    "drill.caption": {
        "es": "Detector «{detector}» entrenado con datos simulados limpios; cada tipo de fallo"
        " se inyecta por separado en {readings} lecturas nuevas. Ejecutado {time} UTC para el"
        " modelo v{version}.",
        "en": "Detector “{detector}” trained on clean simulated data; each kind of fault is"
        " injected alone into {readings} new readings. Run {time} UTC for model v{version}.",
    },
    "drill.summary": {
        "es": "Simulacro: {caught} de {kinds} tipos de fallo detectados (≥ 90 %)",
        "en": "Fire drill: {caught} of {kinds} fault kinds caught (≥ 90 %)",
    },
    "drill.running": {"es": "Simulacro en curso…", "en": "Fire drill running…"},
    "drill.none": {
        "es": "Sin simulacro todavía: se ejecuta tras cada entrenamiento desde el panel.",
        "en": "No fire drill yet: one runs after each training from the dashboard.",
    },
    "drill.failed": {"es": "El simulacro falló: {error}", "en": "The fire drill failed: {error}"},
    "column.fault": {"es": "Fallo", "en": "Fault"},
    "column.recall": {"es": "Detectado (recall)", "en": "Caught (recall)"},
    "column.false_alarms": {"es": "Falsas alarmas", "en": "False alarms"},
    "column.delay": {"es": "Retardo mediano", "en": "Median delay"},
    "fault.voltage_sag": {"es": "Hueco de tensión", "en": "Voltage sag"},
    "fault.voltage_swell": {"es": "Sobretensión", "en": "Voltage swell"},
    "fault.overcurrent": {"es": "Sobrecorriente", "en": "Overcurrent"},
    "fault.power_factor_drop": {"es": "Caída del factor de potencia", "en": "Power factor drop"},
    "fault.frequency_deviation": {"es": "Desvío de frecuencia", "en": "Frequency deviation"},
    "fault.overheating": {"es": "Sobrecalentamiento", "en": "Overheating"},
    "fault.sensor_spike": {"es": "Pico del sensor", "en": "Sensor spike"},
    "fault.stuck_sensor": {"es": "Sensor bloqueado", "en": "Stuck sensor"},
    # meters tab (the fleet)
    "meters.caption": {"es": "{total} medidores", "en": "{total} meters"},
    "meters.caption_filtered": {
        "es": "{total} medidores con estos filtros",
        "en": "{total} meters match these filters",
    },
    "meters.hint": {
        "es": "Salud ahora: la parte de sus lecturas de la última hora que el modelo marcó."
        " Pulse un medidor para ver solo sus datos en las demás pestañas.",
        "en": "Health now: the share of its readings of the last hour the model flagged."
        " Click a meter to see only its data in the other tabs.",
    },
    "meters.search": {"es": "Buscar medidor", "en": "Search meter"},
    "meters.health_all": {"es": "Todos", "en": "All"},
    "meters.health_normal": {"es": "Normal", "en": "Normal"},
    "meters.health_caution": {"es": "Precaución", "en": "Caution"},
    "meters.health_critical": {"es": "Crítico", "en": "Critical"},
    "meters.health_silent": {"es": "Sin datos (1 h)", "en": "Silent (1 h)"},
    "meters.showing": {"es": "Solo el medidor {meter}", "en": "Only meter {meter}"},
    "meters.cli_page": {"es": "{first}–{last} de {total}", "en": "{first}–{last} of {total}"},
    "column.health": {"es": "Salud ahora", "en": "Health now"},
    "column.flagged_share": {"es": "Anómalas (1 h)", "en": "Flagged (1 h)"},
    "column.readings_hour": {"es": "Lecturas (1 h)", "en": "Readings (1 h)"},
    "column.flagged_hour": {"es": "Marcadas (1 h)", "en": "Flagged readings (1 h)"},
    "column.last_seen": {"es": "Última lectura (UTC)", "en": "Last seen (UTC)"},
    "column.cadence": {"es": "Cadencia", "en": "Cadence"},
    "column.variables": {"es": "Variables que envía", "en": "Variables sent"},
    "column.origin": {"es": "Origen", "en": "Source"},
    "origin.simulator": {"es": "Simulador", "en": "Simulator"},
    "origin.native": {"es": "SmartEnergy", "en": "SmartEnergy"},
    # alerts
    "notify.incident_opened": {
        "es": "Incidencia en {meter}: lecturas anómalas ({variables})",
        "en": "Incident on {meter}: anomalous readings ({variables})",
    },
    "notify.incident_resolved": {
        "es": "Incidencia resuelta en {meter} ({variables})",
        "en": "Incident resolved on {meter} ({variables})",
    },
    "notify.limit_opened": {"es": "{meter}: {rule}", "en": "{meter}: {rule}"},
    "notify.limit_resolved": {
        "es": "{meter}: de nuevo dentro del límite ({rule})",
        "en": "{meter}: back within the limit ({rule})",
    },
    "notify.silent_opened": {
        "es": "{meter} ha dejado de enviar lecturas",
        "en": "{meter} stopped sending readings",
    },
    "notify.silent_resolved": {
        "es": "{meter} vuelve a enviar lecturas",
        "en": "{meter} is sending readings again",
    },
    "notify.health_opened": {
        "es": "Estado de salud: {state} ({percentage} % anómalas)",
        "en": "Health state: {state} ({percentage} % anomalous)",
    },
    "notify.health_resolved": {
        "es": "Estado de salud: Normal de nuevo",
        "en": "Health state: Normal again",
    },
    "notify.detector_opened": {"es": "Detector: {condition}", "en": "Detector: {condition}"},
    "notify.detector_resolved": {
        "es": "Detector: {condition} resuelto",
        "en": "Detector: {condition} resolved",
    },
    "notify.reminder": {"es": "Recordatorio: {title}", "en": "Reminder: {title}"},
    "notify.escalated": {"es": "Empeora: {title}", "en": "Worse: {title}"},
    "notify.since": {"es": "Desde {start} UTC", "en": "Since {start} UTC"},
    "notify.lasted": {"es": "Duró {duration}", "en": "Lasted {duration}"},
    "notify.peak": {"es": "Pico: {peak}", "en": "Peak: {peak}"},
    "notify.readings": {"es": "Lecturas: {count}", "en": "Readings: {count}"},
    "notify.severity": {"es": "Gravedad: {severity}", "en": "Severity: {severity}"},
    "severity.info": {"es": "informativa", "en": "info"},
    "severity.warning": {"es": "aviso", "en": "warning"},
    "severity.critical": {"es": "crítica", "en": "critical"},
    "alert.health": {
        "es": "Estado de salud: {old} → {new} ({percentage} % anómalas)",
        "en": "Health state: {old} → {new} ({percentage} % anomalous)",
    },
    # alerts tab, alerts API and `smartenergy alerts` (energy_ui.alert_views)
    "alerts.off": {
        "es": "Las alertas están desactivadas (ENERGY_ALERTS=false).",
        "en": "Alerts are off (ENERGY_ALERTS=false).",
    },
    "alerts.login_hint": {
        "es": "Inicie sesión como administrador para reconocer, silenciar o valorar alertas.",
        "en": "Log in as administrator to acknowledge, silence or give feedback on alerts.",
    },
    "alerts.caption": {"es": "Mostrando: {scope}", "en": "Showing: {scope}"},
    "alerts.every_meter": {"es": "todos los medidores", "en": "every meter"},
    "alerts.badge": {"es": "{count} alertas abiertas", "en": "{count} open alerts"},
    "alerts.open": {"es": "Alertas abiertas ({count})", "en": "Open alerts ({count})"},
    "alerts.history": {"es": "Historial", "en": "History"},
    "alerts.none": {"es": "Ninguna alerta.", "en": "No alerts."},
    "alerts.not_found": {
        "es": "No existe la alerta #{id} (o ya no se conserva).",
        "en": "There is no alert #{id} (or it is no longer kept).",
    },
    "alerts.state_open": {"es": "abierta", "en": "open"},
    "alerts.state_resolved": {"es": "resuelta", "en": "resolved"},
    "alerts.kind_incident": {"es": "Incidencia", "en": "Incident"},
    "alerts.kind_limit": {"es": "Límite", "en": "Limit"},
    "alerts.kind_silent_meter": {"es": "Medidor sin datos", "en": "Silent meter"},
    "alerts.kind_health": {"es": "Estado de salud", "en": "Health state"},
    "alerts.kind_detector": {"es": "Detector", "en": "Detector"},
    "alerts.column_id": {"es": "#", "en": "#"},
    "alerts.column_state": {"es": "Estado", "en": "State"},
    "alerts.column_kind": {"es": "Tipo", "en": "Kind"},
    "alerts.column_meter": {"es": "Medidor", "en": "Meter"},
    "alerts.column_rule": {"es": "Regla", "en": "Rule"},
    "alerts.column_rule_text": {"es": "Qué hace", "en": "What it does"},
    "alerts.column_severity": {"es": "Gravedad", "en": "Severity"},
    "alerts.column_since": {"es": "Desde (UTC)", "en": "Since (UTC)"},
    "alerts.column_ended": {"es": "Hasta (UTC)", "en": "Until (UTC)"},
    "alerts.column_duration": {"es": "Duración", "en": "Duration"},
    "alerts.column_peak": {"es": "Pico", "en": "Peak"},
    "alerts.column_readings": {"es": "Lecturas", "en": "Readings"},
    "alerts.column_variables": {"es": "Variables principales", "en": "Top variables"},
    "alerts.column_acknowledged": {"es": "Reconocida por", "en": "Acknowledged by"},
    "alerts.column_meters": {"es": "Medidores", "en": "Meters"},
    "alerts.column_rules": {"es": "Reglas", "en": "Rules"},
    "alerts.column_until": {"es": "Hasta (UTC)", "en": "Until (UTC)"},
    "alerts.column_by": {"es": "Por", "en": "By"},
    "alerts.column_comment": {"es": "Comentario", "en": "Comment"},
    "alerts.column_schedule": {"es": "Horario", "en": "Schedule"},
    "alerts.column_notification": {"es": "Aviso", "en": "Notification"},
    "alerts.column_delivery": {"es": "Entrega", "en": "Delivery"},
    "alerts.column_reason": {"es": "Decisión", "en": "Decision"},
    "alerts.column_attempts": {"es": "Intentos", "en": "Attempts"},
    "alerts.column_created": {"es": "Creado (UTC)", "en": "Created (UTC)"},
    "alerts.column_sent": {"es": "Enviado (UTC)", "en": "Sent (UTC)"},
    "alerts.column_error": {"es": "Error", "en": "Error"},
    "alerts.column_channel": {"es": "Canal", "en": "Channel"},
    "alerts.column_receives": {"es": "Recibe", "en": "Receives"},
    "alerts.column_last_sent": {"es": "Último envío (UTC)", "en": "Last sent (UTC)"},
    "alerts.column_last_failure": {"es": "Último fallo", "en": "Last failure"},
    "alerts.notifications": {"es": "Avisos y su entrega", "en": "Notifications and delivery"},
    "alerts.no_notifications": {
        "es": "Sin avisos: un cambio que no se notifica, o aún en camino.",
        "en": "No notifications: a change that is not told, or on its way.",
    },
    "alerts.notification_opened": {"es": "apertura", "en": "opened"},
    "alerts.notification_resolved": {"es": "resolución", "en": "resolved"},
    "alerts.notification_escalated": {"es": "empeora", "en": "worse"},
    "alerts.notification_repeat": {"es": "recordatorio", "en": "reminder"},
    "alerts.delivery_pending": {"es": "pendiente", "en": "pending"},
    "alerts.delivery_sending": {"es": "enviando", "en": "sending"},
    "alerts.delivery_sent": {"es": "enviado", "en": "sent"},
    "alerts.delivery_failed": {"es": "fallido", "en": "failed"},
    "alerts.delivery_suppressed": {"es": "no enviado", "en": "suppressed"},
    "alerts.reason_send": {"es": "enviar", "en": "send"},
    "alerts.reason_silenced": {"es": "silenciado por {id}", "en": "silenced by {id}"},
    "alerts.reason_maintenance": {
        "es": "ventana de mantenimiento",
        "en": "maintenance window",
    },
    "alerts.acknowledged_by": {
        "es": "Reconocida por {by} el {at} UTC",
        "en": "Acknowledged by {by} at {at} UTC",
    },
    "alerts.not_acknowledged": {
        "es": "Nadie la ha reconocido todavía.",
        "en": "Nobody has acknowledged it yet.",
    },
    "alerts.feedback_line": {
        "es": "Valoración: {verdict}, por {by} el {at} UTC",
        "en": "Feedback: {verdict}, by {by} at {at} UTC",
    },
    "alerts.verdict_false_alarm": {"es": "Falsa alarma", "en": "False alarm"},
    "alerts.verdict_confirmed": {"es": "Fallo confirmado", "en": "Confirmed fault"},
    "alerts.acknowledge": {"es": "Reconocer", "en": "Acknowledge"},
    "alerts.acknowledge_title": {
        "es": "Reconocer la alerta #{id}",
        "en": "Acknowledge alert #{id}",
    },
    "alerts.acknowledged": {"es": "Alerta #{id} reconocida", "en": "Alert #{id} acknowledged"},
    "alerts.silence_this": {"es": "Silenciar", "en": "Silence"},
    "alerts.silence_title": {"es": "Silenciar alertas", "en": "Silence alerts"},
    "alerts.silence_meter": {"es": "este medidor ({meter})", "en": "this meter ({meter})"},
    "alerts.silence_rule": {"es": "esta regla ({rule})", "en": "this rule ({rule})"},
    "alerts.silenced": {
        "es": "Silencio creado: se registran, no se envían",
        "en": "Silence set: recorded, not sent",
    },
    "alerts.silence_removed": {"es": "Silencio terminado", "en": "Silence ended"},
    "alerts.feedback": {"es": "Valorar", "en": "Feedback"},
    "alerts.feedback_title": {
        "es": "¿Qué fue la incidencia #{id}?",
        "en": "What was incident #{id}?",
    },
    "alerts.feedback_saved": {
        "es": "Valoración guardada: el próximo entrenamiento la tendrá en cuenta",
        "en": "Feedback saved: the next training takes it into account",
    },
    "alerts.fault_kind": {"es": "Tipo de fallo", "en": "Kind of fault"},
    "alerts.fault_unknown": {"es": "Sin especificar", "en": "Not specified"},
    "alerts.by": {"es": "Quién", "en": "Who"},
    "alerts.default_by": {"es": "admin", "en": "admin"},
    "alerts.comment": {"es": "Comentario", "en": "Comment"},
    "alerts.duration": {"es": "Durante (30m, 2h, 1d…)", "en": "For (30m, 2h, 1d…)"},
    "alerts.save": {"es": "Guardar", "en": "Save"},
    "alerts.remove": {"es": "Quitar", "en": "Remove"},
    "alerts.silences": {"es": "Silencios", "en": "Silences"},
    "alerts.silence_add": {"es": "Silenciar…", "en": "Silence…"},
    "alerts.no_silences": {"es": "Ningún silencio.", "en": "No silences."},
    "alerts.silence_line": {
        "es": "{what} hasta {until} UTC · {by}",
        "en": "{what} until {until} UTC · {by}",
    },
    "alerts.meters_field": {
        "es": "Medidores (patrones, p. ej. planta-*)",
        "en": "Meters (patterns, e.g. plant-*)",
    },
    "alerts.rules_field": {
        "es": "Reglas (p. ej. incident, limit-1)",
        "en": "Rules (e.g. incident, limit-1)",
    },
    "alerts.windows": {"es": "Ventanas de mantenimiento", "en": "Maintenance windows"},
    "alerts.windows_hint": {
        "es": "Cada semana, a la hora local de su zona: las alertas se registran, no se envían.",
        "en": "Every week, by their zone's local clock: alerts are recorded, not sent.",
    },
    "alerts.window_add": {"es": "Añadir ventana…", "en": "Add window…"},
    "alerts.window_title": {"es": "Ventana de mantenimiento", "en": "Maintenance window"},
    "alerts.window_id": {"es": "Nombre", "en": "Name"},
    "alerts.window_schedule": {"es": "Horario", "en": "Schedule"},
    "alerts.window_schedule_hint": {
        "es": "Días (sun, mon-fri, sat,sun, daily), horas locales y zona horaria.",
        "en": "Days (sun, mon-fri, sat,sun, daily), local times and time zone.",
    },
    "alerts.window_added": {"es": "Ventana guardada", "en": "Window saved"},
    "alerts.window_removed": {"es": "Ventana quitada", "en": "Window removed"},
    "alerts.window_now": {"es": "ahora en curso", "en": "in force now"},
    "alerts.no_windows": {"es": "Ninguna ventana.", "en": "No windows."},
    "alerts.all_alerts": {"es": "todas las alertas", "en": "every alert"},
    "alerts.rules": {"es": "Reglas en vigor", "en": "Rules in force"},
    "alerts.rules_hint": {
        "es": "De la configuración (ENERGY_ALERT_*); solo lectura.",
        "en": "From the settings (ENERGY_ALERT_*); read-only.",
    },
    "alerts.rule_incident": {
        "es": "Incidencia por medidor: se abre con {open} anómalas seguidas; se resuelve con"
        " {close} normales seguidas.",
        "en": "Incident per meter: opens after {open} flagged in a row; resolves after"
        " {close} normal in a row.",
    },
    "alerts.rule_readings": {"es": "{count} lecturas", "en": "{count} readings"},
    "alerts.rule_lasting": {"es": "{duration} de duración", "en": "lasting {duration}"},
    "alerts.rule_quiet": {
        "es": "{duration} sin anomalías",
        "en": "{duration} without flags",
    },
    "alerts.rule_or": {"es": " o ", "en": " or "},
    "alerts.rule_limit": {"es": "Límite: {rule}", "en": "Limit: {rule}"},
    "alerts.rule_silent": {
        "es": "Medidor sin datos tras {after} ({meters}).",
        "en": "Silent meter after {after} ({meters}).",
    },
    "alerts.rule_cadence": {
        "es": "{multiple} veces su intervalo habitual",
        "en": "{multiple} times its usual interval",
    },
    "alerts.rule_every_meter": {"es": "todos los medidores", "en": "every meter"},
    "alerts.rule_health": {
        "es": "Estado de salud: Precaución desde {caution} %, Crítico desde {critical} %"
        " de lecturas anómalas.",
        "en": "Health state: Caution from {caution} %, Critical from {critical} % of readings"
        " flagged.",
    },
    "alerts.rule_detector": {
        "es": "Detector: sin modelo, puntuación fallida, {age}tasa de anomalías por encima de"
        " {factor} veces la calibrada.",
        "en": "Detector: no model, scoring failing, {age}a flag rate above {factor} times the"
        " calibrated one.",
    },
    "alerts.rule_model_age": {
        "es": "modelo con más de {age}, ",
        "en": "a model older than {age}, ",
    },
    "alerts.rule_repeat": {
        "es": "Las alertas abiertas sin reconocer se repiten cada {every}.",
        "en": "Open, unacknowledged alerts are told again every {every}.",
    },
    "alerts.rule_no_repeat": {
        "es": "Las alertas abiertas no se repiten (ENERGY_ALERT_REPEAT_S).",
        "en": "Open alerts are not told again (ENERGY_ALERT_REPEAT_S).",
    },
    "alerts.channels": {"es": "Canales", "en": "Channels"},
    "alerts.channels_hint": {
        "es": "ENERGY_NOTIFY_URLS, con los secretos ocultos; la última entrega de cada uno.",
        "en": "ENERGY_NOTIFY_URLS, secrets masked; each one's last delivery.",
    },
    "alerts.channels_none": {
        "es": "Ningún canal: defina ENERGY_NOTIFY_URLS. Las alertas se registran y se muestran"
        " aquí, no se envían.",
        "en": "No channels: set ENERGY_NOTIFY_URLS. Alerts are recorded and shown here, not sent.",
    },
    "alerts.no_channels": {"es": "Ningún canal.", "en": "No channels."},
    "alerts.channel_failure": {
        "es": "aviso #{id} ({at} UTC): {error}",
        "en": "notification #{id} ({at} UTC): {error}",
    },
    # command line: alerts
    "cli.alerts_off": {
        "es": "las alertas están desactivadas (ENERGY_ALERTS=false)",
        "en": "alerts are off (ENERGY_ALERTS=false)",
    },
    "cli.alerts_none": {"es": "ninguna alerta", "en": "no alerts"},
    "cli.alerts_unknown": {"es": "no existe la alerta {id}", "en": "no alert {id}"},
    "cli.alerts_acknowledged": {
        "es": "alerta {id} reconocida por {by}: sus recordatorios se detienen",
        "en": "alert {id} acknowledged by {by}: its reminders stop",
    },
    "cli.alerts_silenced": {
        "es": "silencio {id}: {what} hasta {until} UTC (smartenergy alerts unsilence {id})",
        "en": "silence {id}: {what} until {until} UTC (smartenergy alerts unsilence {id})",
    },
    "cli.alerts_unsilenced": {"es": "silencio {id} terminado", "en": "silence {id} ended"},
    "cli.alerts_no_silence": {"es": "no existe el silencio {id}", "en": "no silence {id}"},
    "cli.alerts_no_silences": {"es": "ningún silencio", "en": "no silences"},
    "cli.alerts_window_added": {
        "es": "ventana {id}: {schedule}",
        "en": "window {id}: {schedule}",
    },
    "cli.alerts_window_removed": {"es": "ventana {id} quitada", "en": "window {id} removed"},
    "cli.alerts_no_window": {
        "es": "no existe la ventana {id}",
        "en": "no maintenance window {id}",
    },
    "cli.alerts_no_windows": {
        "es": "ninguna ventana de mantenimiento",
        "en": "no maintenance windows",
    },
    "cli.alerts_no_channels": {
        "es": "ningún canal: defina ENERGY_NOTIFY_URLS (URL de Apprise separadas por comas,"
        " docs/alerts.md)",
        "en": "no channels: set ENERGY_NOTIFY_URLS (Apprise URLs, comma-separated, docs/alerts.md)",
    },
    "cli.alerts_test_title": {
        "es": "SmartEnergy: aviso de prueba",
        "en": "SmartEnergy: test notification",
    },
    "cli.alerts_test_body": {
        "es": "Si lee esto, las alertas de SmartEnergy llegan a este canal. Panel: {url}",
        "en": "If you read this, SmartEnergy's alerts reach this channel. Dashboard: {url}",
    },
    "cli.alerts_test_sent": {"es": "{channel}: entregado", "en": "{channel}: delivered"},
    "cli.alerts_test_failed": {
        "es": "{channel}: falló: {error}",
        "en": "{channel}: failed: {error}",
    },
    # command line (`smartenergy …`, energy_ui.cli*): what it prints; --help stays English and
    # --json is the same in both languages
    "cli.error": {"es": "error:", "en": "error:"},
    "cli.needs_database": {
        "es": "`{command}` necesita una base de datos compartida: defina"
        " DATABASE_URL=postgresql://usuario:contraseña@host:5432/bd en el entorno o en un"
        " fichero .env",
        "en": "`{command}` needs shared storage: set"
        " DATABASE_URL=postgresql://user:password@host:5432/db in the environment or a .env"
        " file",
    },
    "cli.in_memory": {
        "es": "sin DATABASE_URL: en memoria, nada se conserva",
        "en": "no DATABASE_URL: in memory, nothing is kept",
    },
    "cli.interrupted": {
        "es": "interrumpido (solo se guardaron lotes completos)",
        "en": "interrupted (only complete batches were stored)",
    },
    "cli.stopping": {
        "es": "deteniendo tras el lote en curso…",
        "en": "stopping after the current batch…",
    },
    "cli.progress": {
        "es": "{label}: {done} / {total} ({percent} %)",
        "en": "{label}: {done} / {total} ({percent} %)",
    },
    "cli.progress_reset": {"es": "reinicio", "en": "reset"},
    "cli.progress_simulate": {"es": "simulación", "en": "simulate"},
    "cli.cannot_serve": {
        "es": "no se puede servir en {host}:{port}: {reason}",
        "en": "cannot serve on {host}:{port}: {reason}",
    },
    "cli.port_busy": {
        "es": "no se puede servir en {host}:{port}: {reason} — otro programa lo usa; deténgalo"
        " o elija otro puerto (--port o ENERGY_PORT)",
        "en": "cannot serve on {host}:{port}: {reason} — another program uses it; stop it or"
        " choose another port (--port or ENERGY_PORT)",
    },
    "cli.schema_ready": {
        "es": "esquema al día (revisión {revision})",
        "en": "schema up to date (revision {revision})",
    },
    "cli.reset_confirm": {
        "es": "¿Vaciar registros y metricas?",
        "en": "Empty registros and metricas?",
    },
    "cli.cancelled": {"es": "cancelado", "en": "cancelled"},
    "cli.reset_done": {"es": "{count} lecturas almacenadas", "en": "{count} readings stored"},
    "cli.retention_ahead": {
        "es": "retención: max-registros {limit} — se conservan las {limit} más recientes"
        " ({before} almacenadas + {count} nuevas)",
        "en": "retention: max-registros {limit} — only the newest {limit} will be kept"
        " ({before} stored + {count} new)",
    },
    "cli.simulated": {
        "es": "{stored} lecturas generadas; {total} almacenadas",
        "en": "{stored} readings generated; {total} stored",
    },
    "cli.retention_deleted": {
        "es": "retención: {deleted} más antiguas borradas ({rule})",
        "en": "retention: {deleted} oldest deleted ({rule})",
    },
    "cli.retention_none": {"es": "ninguna", "en": "none"},
    "cli.streaming": {
        "es": "enviando un lote cada {interval} s — Ctrl-C para parar",
        "en": "streaming every {interval} s — Ctrl-C to stop",
    },
    "cli.batch": {
        "es": "lote {batch}: {stored} lecturas, {flagged} anómalas",
        "en": "batch {batch}: {stored} readings, {flagged} flagged",
    },
    "cli.batch_unscored": {"es": "(sin modelo)", "en": "(no model)"},
    "cli.batch_deleted": {
        "es": "{deleted} más antiguas borradas ({rule})",
        "en": "{deleted} oldest deleted ({rule})",
    },
    "cli.waiting": {
        "es": "base de datos no disponible: {pending} en espera, {dropped} descartadas",
        "en": "database unavailable: {pending} waiting, {dropped} dropped",
    },
    "cli.not_stored": {"es": "{count} lecturas sin guardar", "en": "{count} readings not stored"},
    "cli.training": {"es": "entrenando…", "en": "training…"},
    "cli.trained": {
        "es": "modelo v{version} ({detector}): {rows} lecturas",
        "en": "model v{version} ({detector}): {rows} readings",
    },
    "cli.metrics_title": {"es": "métricas", "en": "metrics"},
    "cli.column_total": {"es": "total", "en": "total"},
    "cli.column_anomalies": {"es": "anomalías", "en": "anomalies"},
    "cli.column_health": {"es": "estado", "en": "health"},
    "cli.column_quality": {
        "es": "precisión / exhaustividad / F1",
        "en": "precision / recall / F1",
    },
    "cli.cycle": {
        "es": "ciclo {cycle}: modelo v{version}, {percentage} % {health}",
        "en": "cycle {cycle}: model v{version}, {percentage} % {health}",
    },
    "cli.import_stopped": {
        "es": "{error}; se guardaron {accepted} lecturas de las primeras {lines} líneas de"
        " {file}, el resto no",
        "en": "{error}; {accepted} readings of the first {lines} lines of {file} were stored,"
        " the rest was not",
    },
    "cli.more_rejections": {"es": "… y {count} más", "en": "… and {count} more"},
    "cli.imported": {
        "es": "{lines} líneas: {accepted} aceptadas, {rejected} rechazadas",
        "en": "{lines} lines: {accepted} accepted, {rejected} rejected",
    },
    "cli.mqtt_listening": {
        "es": "MQTT {broker} → {topics} — Ctrl-C para parar",
        "en": "MQTT {broker} → {topics} — Ctrl-C to stop",
    },
    # scale-out (`smartenergy ingest`, `worker`, `dev-cluster`: energy_ui.cli_scale)
    "cli.ingest_serving": {
        "es": "ingesta HTTP en http://{host}:{port}, {workers} proceso(s), {mode} — Ctrl-C para"
        " parar",
        "en": "HTTP ingest on http://{host}:{port}, {workers} process(es), {mode} — Ctrl-C to stop",
    },
    "cli.ingest_to_log": {
        "es": "pasarela: lecturas validadas al registro {url}",
        "en": "gateway: validated readings to the log {url}",
    },
    "cli.ingest_direct": {"es": "almacena directamente", "en": "storing directly"},
    "cli.ingest_needs_shared": {
        "es": "--workers {workers} necesita DATABASE_URL o ENERGY_NATS_URL: varios procesos no"
        " comparten la memoria",
        "en": "--workers {workers} needs DATABASE_URL or ENERGY_NATS_URL: processes do not"
        " share memory",
    },
    "cli.needs_nats": {
        "es": "`{command}` necesita ENERGY_NATS_URL=nats://host:4222 (pruebe `smartenergy"
        " dev-cluster`)",
        "en": "`{command}` needs ENERGY_NATS_URL=nats://host:4222 (try `smartenergy dev-cluster`)",
    },
    "cli.worker_started": {
        "es": "worker {worker}: particiones de {url} — Ctrl-C para parar",
        "en": "worker {worker}: partitions of {url} — Ctrl-C to stop",
    },
    "cli.dev_cluster": {
        "es": "NATS con JetStream en {url} (datos en {store}). En otras terminales:\n"
        "  export ENERGY_NATS_URL={url} DATABASE_URL=postgresql://…\n"
        "  smartenergy ingest --port 8081    # pasarela HTTP\n"
        "  smartenergy worker                # uno o más\n"
        "Ctrl-C para parar",
        "en": "NATS with JetStream on {url} (data in {store}). In other terminals:\n"
        "  export ENERGY_NATS_URL={url} DATABASE_URL=postgresql://…\n"
        "  smartenergy ingest --port 8081    # HTTP gateway\n"
        "  smartenergy worker                # one or more\n"
        "Ctrl-C to stop",
    },
    "cli.bad_moment": {
        "es": "no es una fecha u hora ISO 8601: {value}",
        "en": "not an ISO 8601 date or time: {value}",
    },
    "cli.exported": {"es": "{count} lecturas → {path}", "en": "{count} readings → {path}"},
    # command line: evaluate and drill
    "cli.unknown_detector": {
        "es": "detector desconocido {name}; conocidos: {known}",
        "en": "unknown detector {name}; known: {known}",
    },
    "cli.no_such_file": {"es": "{path}: no existe", "en": "{path}: no such file"},
    "cli.evaluate_title": {
        "es": "Detector {detector}: filas puntuadas con su propio umbral",
        "en": "Detector {detector}: scored rows at its own threshold",
    },
    "cli.column_file": {"es": "fichero", "en": "file"},
    "cli.column_rows": {"es": "filas", "en": "rows"},
    "cli.column_anomalous_share": {"es": "% anómalas", "en": "anomalous %"},
    "cli.column_precision": {"es": "precisión", "en": "precision"},
    "cli.column_recall": {"es": "exhaustividad", "en": "recall"},
    "cli.column_segments": {"es": "segmentos hallados", "en": "segments found"},
    "cli.column_delay": {"es": "retardo mediano", "en": "median delay"},
    "cli.pooled": {"es": "conjunto", "en": "pooled"},
    "cli.unit_rows": {"es": "filas", "en": "rows"},
    "cli.drill_title": {
        "es": "Simulacro, detector {detector}",
        "en": "Fire drill, detector {detector}",
    },
    "cli.column_fault": {"es": "fallo", "en": "kind"},
    "cli.column_anomalous": {"es": "anómalas", "en": "anomalous"},
    "cli.column_false_alarms": {"es": "falsas alarmas", "en": "false alarms"},
    "cli.column_delay_s": {"es": "retardo mediano s", "en": "median delay s"},
    # command line: datasets
    "cli.datasets_title": {
        "es": "datos etiquetados en {folder}",
        "en": "data sets in {folder}",
    },
    "cli.column_name": {"es": "nombre", "en": "name"},
    "cli.column_state": {"es": "estado", "en": "state"},
    "cli.column_files_ok": {"es": "ficheros correctos", "en": "files ok"},
    "cli.column_license": {"es": "licencia", "en": "license"},
    "cli.column_source": {"es": "fuente", "en": "source"},
    "cli.dataset_complete": {"es": "completo", "en": "complete"},
    "cli.dataset_partial": {"es": "parcial", "en": "partial"},
    "cli.dataset_missing": {"es": "ausente", "en": "missing"},
    "cli.dataset_modified": {
        "es": "{name}: modificados: {files} (`smartenergy datasets fetch {name}` los sustituye)",
        "en": "{name}: modified: {files} (`smartenergy datasets fetch {name}` replaces them)",
    },
    "cli.dataset_fallback": {
        "es": "{name}: completo en {folder}",
        "en": "{name}: complete in {folder}",
    },
    "cli.dataset_fetch_hint": {
        "es": "{name}: `smartenergy datasets fetch {name}` ({source})",
        "en": "{name}: `smartenergy datasets fetch {name}` ({source})",
    },
    "cli.file_downloaded": {"es": "descargado: {path}", "en": "downloaded: {path}"},
    "cli.file_replaced": {"es": "sustituido: {path}", "en": "replaced: {path}"},
    "cli.interrupted_download": {
        "es": "interrumpido (no se conserva ningún fichero a medias)",
        "en": "interrupted (no partial file kept)",
    },
    "cli.fetched": {
        "es": "{name}: {files} ficheros verificados (SHA-256), {downloaded} descargados, {size} MB"
        " → {folder} ({license}, {source})",
        "en": "{name}: {files} files verified (SHA-256), {downloaded} downloaded, {size} MB"
        " → {folder} ({license}, {source})",
    },
    # command line: tokens
    "cli.token_every_meter": {"es": "todos los medidores", "en": "every meter"},
    "cli.token_added": {
        "es": "token {name} ({scope}): se muestra una sola vez, guárdelo ahora; envíelo como"
        " 'Authorization: Bearer <token>'",
        "en": "token {name} ({scope}): shown once, keep it now; send it as"
        " 'Authorization: Bearer <token>'",
    },
    "cli.no_tokens": {
        "es": "aún no hay tokens: smartenergy tokens add NAME",
        "en": "no tokens yet: smartenergy tokens add NAME",
    },
    "cli.tokens_title": {"es": "tokens", "en": "tokens"},
    "cli.column_meters": {"es": "medidores", "en": "meters"},
    "cli.column_created": {"es": "creado", "en": "created"},
    "cli.column_last_used": {"es": "último uso", "en": "last used"},
    "cli.token_all_meters": {"es": "* (todos)", "en": "* (all)"},
    "cli.token_unknown": {"es": "no existe el token {name}", "en": "no token named {name}"},
    "cli.token_revoked": {
        "es": "revocado {name}: rechazado en todas partes en {seconds} s",
        "en": "revoked {name}: refused everywhere within {seconds} s",
    },
    # users' feedback as labels (export) and on the charts
    "cli.export_labels_need_alerts": {
        "es": "--labels lee las valoraciones de los usuarios, que necesitan las alertas"
        " (ENERGY_ALERTS=true)",
        "en": "--labels reads users' feedback, which needs alerts (ENERGY_ALERTS=true)",
    },
    "chart.feedback_span": {
        "es": "{verdict} en {meter}, según {by}",
        "en": "{verdict} on {meter}, by {by}",
    },
    # consumption tab
    "tab.consumption": {"es": "Consumo", "en": "Consumption"},
    "energy.caption": {
        "es": "Del {start} al {end} ({zone}) · {scope}",
        "en": "From {start} to {end} ({zone}) · {scope}",
    },
    "energy.every_meter": {"es": "todos los medidores", "en": "every meter"},
    "energy.period": {"es": "Por", "en": "By"},
    "energy.period_hour": {"es": "Hora", "en": "Hour"},
    "energy.period_day": {"es": "Día", "en": "Day"},
    "energy.period_week": {"es": "Semana", "en": "Week"},
    "energy.period_month": {"es": "Mes", "en": "Month"},
    "energy.kpi_import": {"es": "Energía consumida", "en": "Energy used"},
    "energy.kpi_import_hint": {
        "es": "datos en el {coverage} % del periodo",
        "en": "data over {coverage} % of the period",
    },
    "energy.kpi_export": {"es": "Energía exportada", "en": "Energy exported"},
    "energy.kpi_peak": {
        "es": "Demanda máxima ({minutes} min)",
        "en": "Peak demand ({minutes} min)",
    },
    "energy.kpi_baseload": {"es": "Carga base", "en": "Baseload"},
    "energy.kpi_baseload_hint": {
        "es": "percentil 5 de la demanda",
        "en": "5th percentile of demand",
    },
    "energy.kpi_load_factor": {"es": "Factor de carga", "en": "Load factor"},
    "energy.kpi_load_factor_hint": {"es": "media / máxima", "en": "mean / peak"},
    "energy.kpi_cost": {"es": "Coste", "en": "Cost"},
    "energy.kpi_cost_hint": {
        "es": "energía {energy} + potencia {demand}",
        "en": "energy {energy} + demand {demand}",
    },
    "energy.no_tariffs": {
        "es": "Sin tarifas: defina ENERGY_TARIFFS para ver el coste",
        "en": "No tariffs: set ENERGY_TARIFFS to see the cost",
    },
    "energy.low_pf": {
        "es": "Factor de potencia bajo: {time} del tiempo, {energy} de la energía",
        "en": "Low power factor: {time} of the time, {energy} of the energy",
    },
    "energy.low_pf_unknown": {
        "es": "Factor de potencia: desconocido (los medidores no lo envían)",
        "en": "Power factor: unknown (the meters do not send it)",
    },
    "energy.chart_consumption": {
        "es": "Consumo por periodo y medidor (kWh)",
        "en": "Consumption by period and meter (kWh)",
    },
    "energy.chart_demand": {
        "es": "Curva de demanda ({minutes} min, kW)",
        "en": "Demand curve ({minutes} min, kW)",
    },
    "energy.demand_series": {"es": "Demanda", "en": "Demand"},
    "energy.peak_mark": {"es": "Máxima", "en": "Peak"},
    "energy.baseload_mark": {"es": "Base {value} kW", "en": "Base {value} kW"},
    "energy.others": {"es": "otros", "en": "others"},
    "energy.meters_title": {"es": "Por medidor", "en": "By meter"},
    "energy.anomalies_title": {"es": "Anomalías más costosas", "en": "Costliest anomalies"},
    "energy.anomalies_hint": {
        "es": "Energía por encima del perfil habitual del medidor (la misma hora de la semana"
        " en las 4 semanas previas) durante cada incidencia, y su coste a la tarifa.",
        "en": "Energy above the meter's usual profile (the same hour of the week over the 4"
        " weeks before) during each incident, and its cost at the tariff.",
    },
    "energy.no_anomalies": {
        "es": "Ninguna incidencia en el periodo",
        "en": "No incident in the period",
    },
    "energy.no_data": {
        "es": "Sin datos de energía en el periodo",
        "en": "No energy data in the period",
    },
    "energy.column_period": {"es": "Periodo", "en": "Period"},
    "energy.column_source": {"es": "Origen", "en": "Source"},
    "energy.column_import": {"es": "Consumida (kWh)", "en": "Used (kWh)"},
    "energy.column_export": {"es": "Exportada (kWh)", "en": "Exported (kWh)"},
    "energy.column_peak": {"es": "Máxima", "en": "Peak"},
    "energy.column_baseload": {"es": "Base", "en": "Base"},
    "energy.column_load_factor": {"es": "F. de carga", "en": "Load factor"},
    "energy.column_coverage": {"es": "Cobertura", "en": "Coverage"},
    "energy.column_cost": {"es": "Coste", "en": "Cost"},
    "energy.column_start": {"es": "Inicio", "en": "Start"},
    "energy.column_duration": {"es": "Duración", "en": "Duration"},
    "energy.column_actual": {"es": "Real (kWh)", "en": "Actual (kWh)"},
    "energy.column_expected": {"es": "Esperada (kWh)", "en": "Expected (kWh)"},
    "energy.column_excess": {"es": "Exceso (kWh)", "en": "Excess (kWh)"},
    "energy.source_counter": {"es": "contador", "en": "register"},
    "energy.source_power": {"es": "potencia", "en": "power"},
    # monthly report
    "report.title": {"es": "Informe energético {month}", "en": "Energy report {month}"},
    "report.window": {
        "es": "Del {start} al {end} ({zone})",
        "en": "From {start} to {end} ({zone})",
    },
    "report.meters": {"es": "Medidores: {meters}", "en": "Meters: {meters}"},
    "report.by_day": {"es": "Consumo por día (kWh)", "en": "Consumption by day (kWh)"},
    "report.peak_label": {"es": "Máxima {value} kW · {time}", "en": "Peak {value} kW · {time}"},
    "report.cost": {"es": "Coste", "en": "Cost"},
    "report.column_charge": {"es": "Concepto", "en": "Charge"},
    "report.column_quantity": {"es": "Cantidad", "en": "Quantity"},
    "report.column_price": {"es": "Precio", "en": "Price"},
    "report.column_amount": {"es": "Importe", "en": "Amount"},
    "report.demand_charge": {
        "es": "Término de potencia {month}",
        "en": "Demand charge {month}",
    },
    "report.demand_rate": {
        "es": "{rate} {currency}/kW × {share} % del mes",
        "en": "{rate} {currency}/kW × {share} % of the month",
    },
    "report.total": {"es": "Total", "en": "Total"},
    "report.unpriced": {
        "es": "{kwh} kWh consumidos sin tarifa en vigor (no incluidos)",
        "en": "{kwh} kWh used with no tariff in force (not included)",
    },
    "report.generated": {
        "es": "Generado el {time} por SmartEnergy · cómo se calcula cada cifra: docs/energy.md",
        "en": "Generated {time} by SmartEnergy · how each figure is computed: docs/energy.md",
    },
    # command line
    "cli.energy_title": {
        "es": "Energía del {start} al {end} ({zone}), por {period}",
        "en": "Energy from {start} to {end} ({zone}), by {period}",
    },
    "cli.energy_total": {
        "es": "Total: {imported} kWh consumidos, {exported} kWh exportados",
        "en": "Total: {imported} kWh used, {exported} kWh exported",
    },
    "cli.energy_demand": {
        "es": "Demanda máxima {peak} ({at}), carga base {base}, factor de carga {factor}",
        "en": "Peak demand {peak} ({at}), baseload {base}, load factor {factor}",
    },
    "cli.energy_cost": {
        "es": "Coste: {total} (energía {energy}, potencia {demand})",
        "en": "Cost: {total} (energy {energy}, demand {demand})",
    },
    "cli.report_written": {
        "es": "informe de {month}: {html} y {csv}",
        "en": "report for {month}: {html} and {csv}",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    """The text of ``key`` in ``language`` with ``values`` filled in."""
    template = TEXTS[key][language]
    return template.format(**values) if values else template


def number(value: float, language: Language, decimals: int = 0) -> str:
    """``value`` with thousands separators and ``decimals`` decimals, as ``language`` writes it."""
    english = f"{value:,.{decimals}f}"
    if language == "en":
        return english
    return english.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def signed(value: float, language: Language, decimals: int = 1) -> str:
    """``value`` with an explicit sign (+1.5 / −0.3)."""
    formatted = number(abs(value), language, decimals)
    if round(abs(value), decimals) == 0:
        return formatted
    return ("+" if value > 0 else "\u2212") + formatted


def moment(value: datetime | None, *, seconds: bool = True) -> str:
    """A UTC instant as ``YYYY-MM-DD HH:MM:SS`` (same in both languages); empty for ``None``."""
    if value is None:
        return ""
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(UTC).strftime(pattern)


VIEW_TEXT: Final[dict[str, str]] = {
    "point": "flagged_by.point",
    "stuck": "flagged_by.stuck",
    "profile": "flagged_by.profile",
    "collective": "flagged_by.collective",
}
"""The words of each view a detector may name (``Reading.flagged_by``, one of
``energy_core.detection.temporal.VIEWS``): keys of ``TEXTS``."""


def view_label(view: str | None, language: Language) -> str:
    """Why a reading was flagged, in words (``value stuck``); empty when not known, the
    view's own name when the catalogue has no words for it."""
    if view is None:
        return ""
    key = VIEW_TEXT.get(view)
    return view if key is None else text(key, language)


def explanation(view: str | None, variables: Iterable[str], language: Language) -> str:
    """Why and which in one short cell: ``value stuck: Voltage, Current``; the variables
    alone when the view is not known (a forest's alarm), the reason alone without them.
    Variables by their labels (a name outside the catalogue as it is)."""
    labels = []
    for name in variables:
        try:
            labels.append(variable(name).label(language))
        except KeyError:
            labels.append(name)
    shown = ", ".join(labels)
    reason = view_label(view, language)
    if reason and shown:
        return text("flagged_by.explained", language, reason=reason, variables=shown)
    return reason or shown


_FORMAT_NAMES = {"tasmota": "Tasmota", "shelly": "Shelly", "emoncms": "Emoncms"}


def origin_label(origin: Origin | None, language: Language) -> str:
    """How a meter's readings came, e.g. ``MQTT · Tasmota``, ``HTTP · SmartEnergy``,
    ``Simulador``; empty when unknown."""
    if origin is None:
        return ""
    if origin.channel == "simulator":
        return text("origin.simulator", language)
    channel = origin.channel.upper()
    shown = (
        text("origin.native", language)
        if origin.format == "native"
        else _FORMAT_NAMES.get(origin.format, origin.format)
    )
    return f"{channel} · {shown}"


FLEET_HEALTH_TEXT = {
    "normal": "meters.health_normal",
    "caution": "meters.health_caution",
    "critical": "meters.health_critical",
    "silent": "meters.health_silent",
}
"""The catalogue key of each health a meter can have now (the Meters tab, `smartenergy
meters`); literal keys, so the test that every key used exists sees them."""
