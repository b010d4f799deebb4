"""Real payloads of the device families SmartEnergy decodes, each with where it comes from.

Kept as the bytes a device sends (topic and payload), so the tests decode exactly what goes over
the wire. Where a sample had to be put together (no published message of that exact shape), the
comment says so and from what.
"""

from __future__ import annotations

# --- Tasmota --------------------------------------------------------------------------------

# Sonoff Pow R2 telemetry, as printed in Tasmota's own documentation:
# https://tasmota.github.io/docs/devices/Sonoff-Pow-R2/
# (source: https://github.com/tasmota/docs/blob/master/docs/devices/Sonoff-Pow-R2.md)
TASMOTA_POW_R2_TOPIC = "tele/pow1/SENSOR"
TASMOTA_POW_R2 = (
    b'{"Time":"2018-02-15T17:37:10","ENERGY":{"TotalStartTime":"2018-11-14T18:39:40",'
    b'"Total":6.294,"Yesterday":5.340,"Today":0.954,"Period":217,"Power":2635,'
    b'"ApparentPower":2650,"ReactivePower":282,"Factor":0.99,"Voltage":227,"Current":11.661}}'
)

# A French Linky meter read by Tasmota's Teleinfo driver, from Tasmota's documentation: no
# voltage, factor or apparent power (a meter that reports only some variables), and a
# FullTopic of the user's own (the prefix after the device).
# https://tasmota.github.io/docs/Teleinfo/
# (source: https://github.com/tasmota/docs/blob/master/docs/Teleinfo.md)
TASMOTA_TELEINFO_TOPIC = "emoncms/ch2i/factory/denky_D6C0C0/tele/SENSOR"
TASMOTA_TELEINFO = (
    b'{"Time":"2021-10-26T17:28:45","ENERGY":{"TotalStartTime":"2021-10-25T15:22:04",'
    b'"Total":9098.245,"Yesterday":6822.685,"Today":2275.560,"Period": 9,"Power":170,'
    b'"Current":1.000,"Load":6},"TIC":{"ADCO":"021528603314","OPTARIF":"HC..","ISOUSC":15,'
    b'"HCHC":920750,"HCHP":2275560,"PTEC":"HP..","IINST":1,"IMAX":2,"PAPP":170,"HHPHC":"A",'
    b'"MOTDETAT":0},"ESP32":{"Temperature":36.1},"TempUnit":"C"}'
)

# A two-channel Sonoff Dual R3 on Tasmota (arrays per channel, one common voltage, per-channel
# totals as with SetOption129 1), captured from a real device in a public project's tests:
# https://github.com/ferrets6/wattson/blob/main/internal/mqtt/collector_test.go
# The JSON layout (arrays per phase, common voltage and frequency as one number) is Tasmota's
# EnergyShow(): https://github.com/arendst/Tasmota/blob/development/tasmota/tasmota_xdrv_driver/xdrv_03_energy.ino
TASMOTA_DUAL_TOPIC = "tele/tasmota/SENSOR"
TASMOTA_DUAL = (
    b'{"Time":"2026-09-18T11:19:21","ENERGY":{"TotalStartTime":"2026-09-16T00:00:00",'
    b'"Total":[2.813,0.254],"Yesterday":[1.530,0.125],"Today":[0.772,0.059],"Power":[52,5],'
    b'"ApparentPower":[66,10],"ReactivePower":[40,9],"Factor":[0.79,0.50],"Voltage":235,'
    b'"Current":[0.278,0.044],"BL09XX":{"Temperature":46.5}}}'
)

# Three temperature probes on tele/<device>/SENSOR, no ENERGY object: Tasmota's DS18x20 page.
# https://tasmota.github.io/docs/DS18x20/
# (source: https://github.com/tasmota/docs/blob/master/docs/DS18x20.md)
TASMOTA_DS18B20_TOPIC = "tele/tasmota_probe/SENSOR"
TASMOTA_DS18B20 = (
    b'{"Time":"2021-01-02T09:09:44","DS18B20-1":{"Id":"00000566CC39","Temperature":13.3},'
    b'"DS18B20-2":{"Id":"0000059352D4","Temperature":1.2},'
    b'"DS18B20-3":{"Id":"000005937C90","Temperature":22.5},"TempUnit":"C"}'
)

# --- Shelly Gen2+ ---------------------------------------------------------------------------
# Field names and units: https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch#status
# (apower W, voltage V, current A, pf, freq Hz, aenergy.total Wh), .../EM#status, .../EMData#status,
# .../EM1#status, .../EM1Data#status, .../PM1#status. Component statuses are published on
# <topic_prefix>/status/<component:id> when "Generic status update over MQTT" is on:
# https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Mqtt
# The status bodies below are real devices' Shelly.GetStatus answers (one component each),
# recorded in https://github.com/Luligu/matterbridge-shelly/tree/main/src/mock

# Shelly Plus 1PM (src/mock/shellyplus1pm-441793D69718.json, "switch:0").
SHELLY_PLUS1PM_TOPIC = "shellyplus1pm-441793d69718/status/switch:0"
SHELLY_PLUS1PM = (
    b'{"id":0,"source":"init","output":false,"apower":0,"voltage":232.9,"current":0,'
    b'"aenergy":{"total":66,"by_minute":[0,0,0],"minute_ts":1779362100},'
    b'"temperature":{"tC":51,"tF":123.8}}'
)

# Shelly PM Mini Gen3 (src/mock/shellypmminig3-84FCE63957F4.json, "pm1:0").
SHELLY_PM_MINI_TOPIC = "shellypmminig3-84fce63957f4/status/pm1:0"
SHELLY_PM_MINI = (
    b'{"id":0,"voltage":234.5,"current":0.043,"apower":4.4,"freq":50.1,'
    b'"aenergy":{"total":73112.963,"by_minute":[0,0,213.298],"minute_ts":1779361680},'
    b'"ret_aenergy":{"total":0,"by_minute":[0,0,0],"minute_ts":1779361680}}'
)

# Shelly Pro 3EM, three-phase profile, only phase C wired (src/mock/shellypro3em-A0DD6CA0C27C
# .triphase.json, "em:0" and "emdata:0"): phases without voltage read 0 V and 0 Hz.
SHELLY_PRO3EM_TOPIC = "shellypro3em-a0dd6ca0c27c/status/em:0"
SHELLY_PRO3EM = (
    b'{"id":0,"a_current":0.028,"a_voltage":0,"a_act_power":0,"a_aprt_power":0,"a_pf":0,'
    b'"a_freq":0,"b_current":0.027,"b_voltage":0,"b_act_power":0,"b_aprt_power":0,"b_pf":0,'
    b'"b_freq":0,"c_current":0.068,"c_voltage":232.7,"c_act_power":6.8,"c_aprt_power":15.9,'
    b'"c_pf":0.42,"c_freq":50,"n_current":null,"total_current":0.123,"total_act_power":6.78,'
    b'"total_aprt_power":15.881,"user_calibrated_phase":[]}'
)
SHELLY_PRO3EM_DATA_TOPIC = "shellypro3em-a0dd6ca0c27c/status/emdata:0"
SHELLY_PRO3EM_DATA = (
    b'{"id":0,"a_total_act_energy":0.01,"a_total_act_ret_energy":0,"b_total_act_energy":0.01,'
    b'"b_total_act_ret_energy":0,"c_total_act_energy":45236.95,"c_total_act_ret_energy":0,'
    b'"total_act":45236.97,"total_act_ret":0}'
)

# Shelly Pro EM-50: two single-phase channels, em1:0 and em1:1, and their energy counters
# (src/mock/shellyproem50-A0DD6CA09158.json).
SHELLY_PRO_EM_CH1_TOPIC = "shellyproem50-a0dd6ca09158/status/em1:1"
SHELLY_PRO_EM_CH1 = (
    b'{"id":1,"voltage":233,"current":0,"act_power":0,"aprt_power":4.7,"pf":0,"freq":50,'
    b'"calibration":"factory"}'
)
SHELLY_PRO_EM_DATA_TOPIC = "shellyproem50-a0dd6ca09158/status/em1data:0"
SHELLY_PRO_EM_DATA = b'{"id":0,"total_act_energy":8797809.13,"total_act_ret_energy":0}'
# The same device's contactor output: a switch without metering.
SHELLY_PRO_EM_SWITCH_TOPIC = "shellyproem50-a0dd6ca09158/status/switch:0"
SHELLY_PRO_EM_SWITCH = (
    b'{"id":0,"source":"init","output":false,"temperature":{"tC":42.5,"tF":108.4}}'
)

# The same Plus 1PM's other components, also published on status topics: nothing to read.
SHELLY_WIFI_TOPIC = "shellyplus1pm-441793d69718/status/wifi"
SHELLY_WIFI = (
    b'{"sta_ip":"192.168.68.78","status":"got ip","ssid":"","bssid":"20:23:51:59:e7:ac","rssi":-49}'
)
SHELLY_INPUT_TOPIC = "shellyplus1pm-441793d69718/status/input:0"
SHELLY_INPUT = b'{"id":0,"state":false}'

# NotifyStatus over MQTT on <topic_prefix>/events/rpc. Examples 1 and 2 of Shelly's own
# documentation (https://shelly-api-docs.shelly.cloud/gen2/General/Notifications): a switch
# output change and a lost cloud connection, neither carrying a measurement.
SHELLY_NOTIFY_OUTPUT_TOPIC = "shellypro4pm-f008d1d8b8b8/events/rpc"
SHELLY_NOTIFY_OUTPUT = (
    b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyStatus",'
    b'"params":{"ts":1631186545.04,"switch:0":{"id":0,"output":true,"source":"button"}}}'
)
SHELLY_NOTIFY_CLOUD = (
    b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyStatus",'
    b'"params":{"ts":1624348482.25,"cloud":{"connected":false}}}'
)
# A metering NotifyStatus, put together from that documented frame (src, dst, method,
# params.ts) with a partial switch status as the same page describes ("some or all unchanged
# attributes … may not be visible"), values from the Switch page's own status example
# (https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch#status).
SHELLY_NOTIFY_POWER_TOPIC = "shellypro4pm-f008d1d8b8b8/events/rpc"
SHELLY_NOTIFY_POWER = (
    b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"shellypro4pm-f008d1d8b8b8/events",'
    b'"method":"NotifyStatus","params":{"ts":1631186545.04,'
    b'"switch:2":{"id":2,"apower":1250.5,"voltage":237.571,"current":5.3,'
    b'"aenergy":{"total":14.093,"by_minute":[0,0,0],"minute_ts":1631186520}}}}'
)
# NotifyEvent (a button push): not a status, nothing to read.
SHELLY_NOTIFY_EVENT = (
    b'{"src":"shellypro4pm-f008d1d8b8b8","dst":"user_1","method":"NotifyEvent",'
    b'"params":{"ts":1631266595.43,"events":[{"component":"input:0","id":0,'
    b'"event":"single_push","ts":1631266595.43}]}}'
)

# --- emonhub / Emoncms --------------------------------------------------------------------------
# Emoncms input API (https://github.com/emoncms/emoncms/blob/master/Modules/input/input_methods.php):
#   input/post?node=emontx&fulljson={"power1":100,"power2":200,"power3":300}
#   input/post.json?node=10&json={power1:100,power2:200,power3:300}
#   input/post.json?node=10&csv=100,200,300
#   input/bulk.json?data=[[0,16,1137],[2,17,1437,3164],[4,19,1412,3077]]&time=1387730127
EMONCMS_POST_FULLJSON = {"node": "emontx", "fulljson": '{"power1":100,"power2":200,"power3":300}'}
EMONCMS_POST_JSON = {"node": "10", "json": "{power1:100,power2:200,power3:300}"}
EMONCMS_POST_CSV = {"node": "10", "csv": "100,200,300"}
EMONCMS_BULK_DATA = "[[-10,16,1137],[-8,17,1437,3164],[-6,19,1412,3077]]"
EMONCMS_BULK_TIME = "1387730127"
# What emonhub's HTTP interfacer sends with sendnames = 1 (the default emonhub.conf of an
# emonPi/emonBase): [[timestamp, node name, {name: value}]] to <url>/input/bulk.json?sentat=…,
# zlib-compressed (&cb=1), Authorization: Bearer <apikey>; it wants the answer "ok".
# https://github.com/openenergymonitor/emonhub/blob/master/src/interfacers/EmonHubEmoncmsHTTPInterfacer.py
# Input names of an emonTx4: https://github.com/openenergymonitor/emonhub/blob/master/conf/available.conf
EMONHUB_BULK_NAMED = (
    '[[1735732800,"emontx4",{"MSG":1843,"Vrms":241.35,"P1":1250,"P2":-320,"P3":0,"P4":0,'
    '"E1":125345,"E2":56001,"E3":0,"E4":0,"T1":21.5,"pulse":0}]]'
)

# emonhub's MQTT interfacer, nodevar format (nodevar_format_basetopic = emon/): one message per
# value, no timestamp, e.g. topic emon/emontx/power1, payload 100.
# https://github.com/openenergymonitor/emonhub/blob/master/src/interfacers/EmonHubMqttInterfacer.py
EMONHUB_MQTT_VALUES = [
    ("emon/emontx/power1", b"100"),
    ("emon/emontx/power2", b"-25.5"),
    ("emon/emontx/vrms", b"240.12"),
    ("emon/emontx/temp1", b"21.5"),
    ("emon/emontx/rssi", b"-61"),
]
# Its JSON format (node_JSON_enable): <basetopic><node> {"key": value, …, "time": timestamp}.
EMONHUB_MQTT_JSON_TOPIC = "emon/emontx"
EMONHUB_MQTT_JSON = b'{"power1": 100, "power2": 200, "vrms": 239.8, "time": 1735732800}'
