export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; legendFormat?: string }>;
}

export interface Dashboard {
  panels: DashboardPanel[];
  templating: { list: Array<Record<string, unknown>> };
}

/** Every query of the dashboard, with Grafana's variables replaced for a direct PromQL call. */
export function dashboardQueries(dashboard: Dashboard): Array<{ panel: string; expr: string }> {
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title,
      expr: target.expr.replaceAll('$__rate_interval', '1m'),
    })),
  );
}
