// Grafana's own dashboard schema, for tests/unit/deploy/test_grafana_schema.py.
//
// @grafana/schema (npm, Apache-2.0, pinned in package.json to the Grafana that
// deploy/docker-compose.yml runs) carries the types Grafana generates from its CUE kinds: the
// dashboard, its panels and rows, and each core panel plugin's options and custom field config.
// ts-json-schema-generator turns GrafanaSchemas into one JSON Schema (every type inlined, unknown
// fields rejected); the test validates deploy/grafana/dashboards/*.json against it with
// jsonschema. scripts/setup.sh installs this folder (npm ci); nothing here is shipped.
//
// Every panel type a dashboard uses needs its plugin here (the test says which one is missing).
import type * as dashboard from '@grafana/schema/dist/esm/raw/dashboard/x/dashboard_types.gen';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

export interface GrafanaSchemas {
  dashboard: dashboard.Dashboard;
  panel: dashboard.Panel;
  row: dashboard.RowPanel;
  plugins: {
    // the stat panel has no custom field config in this Grafana
    stat: { options: stat.Options; custom: Record<string, never> };
    'state-timeline': { options: statetimeline.Options; custom: statetimeline.FieldConfig };
    timeseries: { options: timeseries.Options; custom: timeseries.FieldConfig };
  };
}
