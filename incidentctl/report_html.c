/*
 * incidentctl report sla --format html: the month's report as one HTML
 * file that prints on A4, in Japanese, with its charts as inline SVG:
 * availability per agreement against its target, incidents per week, and
 * the spread of times to restore.  No script, font or style sheet is
 * fetched from anywhere: the network is closed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "incidentctl.h"

/* Writes text with &, <, >, " and ' escaped. */
static void
report_html_text(const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", stdout);
			break;
		case '<':
			fputs("&lt;", stdout);
			break;
		case '>':
			fputs("&gt;", stdout);
			break;
		case '"':
			fputs("&quot;", stdout);
			break;
		case '\'':
			fputs("&#39;", stdout);
			break;
		default:
			putchar(*s);
		}
	}
}

static const char *
report_html_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Seconds as H:MM:SS, or "-" for null. */
static void
report_html_hms(json_t *v)
{
	long long s;

	if (!json_is_number(v)) {
		fputs("-", stdout);
		return;
	}
	s = (long long)(json_number_value(v) + 0.5);
	printf("%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

/* A percent with four decimals, or text for null. */
static void
report_html_pct(json_t *v, const char *none)
{
	if (json_is_number(v))
		printf("%.4f%%", json_number_value(v));
	else
		report_html_text(none);
}

static void
report_html_head(json_t *doc)
{
	json_t *ver = json_object_get(doc, "version");

	printf("<!DOCTYPE html>\n<html lang=\"ja\"><head>"
	       "<meta charset=\"utf-8\"><title>SLA/OLA 月次報告 ");
	report_html_text(report_html_str(doc, "month"));
	printf("</title>\n<style>\n"
	       "@page { size: A4; margin: 15mm; }\n"
	       "body { font-family: sans-serif; font-size: 9.5pt; "
	       "color: #000; }\n"
	       "h1 { font-size: 15pt; margin: 0 0 2mm; }\n"
	       "h2 { font-size: 11.5pt; margin: 6mm 0 2mm; "
	       "break-after: avoid; }\n"
	       "table { border-collapse: collapse; width: 100%%; }\n"
	       "th, td { border: 1px solid #888; padding: 1mm 1.5mm; "
	       "text-align: right; }\n"
	       "th { background: #eee; }\n"
	       ".l { text-align: left; }\n"
	       ".ng { color: #b00000; font-weight: bold; }\n"
	       ".chart { break-inside: avoid; }\n"
	       ".note { font-size: 8.5pt; margin: 1mm 0; }\n"
	       "</style></head>\n<body>\n<h1>SLA/OLA 月次報告 ");
	report_html_text(report_html_str(doc, "month"));
	printf("</h1>\n<p>時刻: ");
	report_html_text(report_html_str(doc, "timezone"));
	printf("。時間は合意サービス時間（業務時間）の 時:分:秒。");
	if (json_is_integer(ver)) {
		printf("確定 第%lld版（承認: ",
		    (long long)json_integer_value(ver));
		char when[17];

		report_html_text(report_html_str(doc, "approved_by"));
		/* "2026-11-28T11:41:42.1+09:00" as "2026-11-28 11:41" */
		snprintf(when, sizeof(when), "%s",
		    report_html_str(doc, "approved_at"));
		if (strlen(when) == 16 && when[10] == 'T')
			when[10] = ' ';
		printf(" ");
		report_html_text(when);
		if (*report_html_str(doc, "reason") != '\0') {
			printf("、理由: ");
			report_html_text(report_html_str(doc, "reason"));
		}
		printf("）");
	} else
		printf("速報値（未確定）");
	printf("</p>\n");
}

static void
report_html_availability_table(json_t *ags)
{
	size_t i;
	json_t *a;

	printf("<h2>可用性</h2>\n<table><tr><th class=\"l\">合意</th>"
	       "<th class=\"l\">種別</th><th class=\"l\">サービス</th>"
	       "<th class=\"l\">相手</th><th>合意時間</th><th>除外</th>"
	       "<th>データなし</th><th>停止</th><th>可用性</th>"
	       "<th>目標</th><th>達成</th></tr>\n");
	json_array_foreach(ags, i, a)
	{
		json_t *met = json_object_get(a, "met");

		printf("<tr><td class=\"l\">");
		report_html_text(report_html_str(a, "agreement"));
		printf("</td><td class=\"l\">%s</td><td class=\"l\">",
		    strcmp(report_html_str(a, "kind"), "ola") == 0 ? "OLA" :
								     "SLA");
		report_html_text(report_html_str(a, "service"));
		printf("</td><td class=\"l\">");
		report_html_text(report_html_str(a, "party"));
		printf("</td><td>");
		report_html_hms(json_object_get(a, "agreed_s"));
		printf("</td><td>");
		report_html_hms(json_object_get(a, "excluded_s"));
		printf("</td><td>");
		report_html_hms(json_object_get(a, "nodata_s"));
		printf("</td><td>");
		report_html_hms(json_object_get(a, "down_s"));
		printf("</td><td%s>",
		    json_is_false(met) ? " class=\"ng\"" : "");
		report_html_pct(json_object_get(a, "availability"),
		    "データなし");
		printf("</td><td>");
		report_html_pct(json_object_get(a, "availability_target"), "-");
		printf("</td><td%s>%s</td></tr>\n",
		    json_is_false(met) ? " class=\"ng\"" : "",
		    json_is_true(met)	   ? "○" :
			json_is_false(met) ? "×" :
					     "-");
	}
	printf("</table>\n<p class=\"note\">可用性 = (合意時間 − 除外 − "
	       "データなし − 停止) ÷ (合意時間 − 除外 − データなし)</p>\n");
}

/*
 * Bars of availability against the target line, on a scale from a whole
 * percent below the lowest value shown to 100 %.
 */
static void
report_html_availability_chart(json_t *ags)
{
	const int left = 150, width = 420, row = 22;
	double lo = 100.0;
	size_t i, n = json_array_size(ags);
	json_t *a;

	json_array_foreach(ags, i, a)
	{
		json_t *v = json_object_get(a, "availability");
		json_t *t = json_object_get(a, "availability_target");

		if (json_is_number(v) && json_number_value(v) < lo)
			lo = json_number_value(v);
		if (json_is_number(t) && json_number_value(t) < lo)
			lo = json_number_value(t);
	}
	lo = (double)(long)(lo - 1.0);
	if (lo < 0)
		lo = 0;
	printf("<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
	       "id=\"availability\" width=\"%d\" height=\"%zu\" "
	       "viewBox=\"0 0 %d %zu\" font-size=\"10\">\n",
	    left + width + 60, n * row + 30, left + width + 60, n * row + 30);
	printf("<text x=\"%d\" y=\"%zu\" text-anchor=\"middle\">%.0f%%</text>"
	       "<text x=\"%d\" y=\"%zu\" text-anchor=\"middle\">100%%</text>\n",
	    left, n * row + 20, lo, left + width, n * row + 20);
	json_array_foreach(ags, i, a)
	{
		json_t *v = json_object_get(a, "availability");
		json_t *t = json_object_get(a, "availability_target");
		int y = (int)i * row + 4;

		printf("<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 6,
		    y + 13);
		report_html_text(report_html_str(a, "agreement"));
		printf("</text>");
		if (json_is_number(v)) {
			double w =
			    (json_number_value(v) - lo) / (100.0 - lo) * width;

			printf("<rect data-agreement=\"");
			report_html_text(report_html_str(a, "agreement"));
			printf("\" data-value=\"%.4f\" x=\"%d\" y=\"%d\" "
			       "width=\"%.1f\" height=\"%d\" fill=\"%s\"/>",
			    json_number_value(v), left, y, w < 0 ? 0 : w,
			    row - 8,
			    json_is_false(json_object_get(a, "met")) ?
				"#c0504d" :
				"#4f81bd");
			printf("<text x=\"%d\" y=\"%d\">%.4f%%</text>",
			    left + width + 4, y + 13, json_number_value(v));
		} else
			printf("<text x=\"%d\" y=\"%d\" fill=\"#666\">"
			       "データなし</text>",
			    left + 4, y + 13);
		if (json_is_number(t)) {
			double x = left +
			    (json_number_value(t) - lo) / (100.0 - lo) * width;

			printf("<line data-target=\"%.4f\" x1=\"%.1f\" "
			       "y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
			       "stroke=\"#000\" stroke-dasharray=\"3,2\"/>",
			    json_number_value(t), x, y - 2, x, y + row - 6);
		}
		printf("\n");
	}
	printf("</svg></div>\n");
}

static void
report_html_times_table(json_t *ags)
{
	size_t i;
	json_t *a;

	printf("<h2>応答・復旧時間</h2>\n<table><tr><th class=\"l\">合意"
	       "</th><th>インシデント</th><th>受付超過</th><th>復旧超過</th>"
	       "<th>MTTA</th><th>MTTR</th><th>MTBF</th></tr>\n");
	json_array_foreach(ags, i, a)
	{
		printf("<tr><td class=\"l\">");
		report_html_text(report_html_str(a, "agreement"));
		printf("</td><td>%lld</td><td>%lld</td><td>%lld</td><td>",
		    (long long)json_integer_value(json_object_get(a, "count")),
		    (long long)json_integer_value(
			json_object_get(a, "tto_breaches")),
		    (long long)json_integer_value(
			json_object_get(a, "ttr_breaches")));
		report_html_hms(json_object_get(a, "mtta_s"));
		printf("</td><td>");
		report_html_hms(json_object_get(a, "mttr_s"));
		printf("</td><td>");
		report_html_hms(json_object_get(a, "mtbf_s"));
		printf("</td></tr>\n");
	}
	printf("</table>\n");
}

static void
report_html_breaches(json_t *list)
{
	size_t i;
	json_t *b;

	printf("<h2>目標未達（%zu件）</h2>\n", json_array_size(list));
	if (json_array_size(list) == 0) {
		printf("<p>ありません。</p>\n");
		return;
	}
	printf("<table><tr><th class=\"l\">合意</th><th class=\"l\">"
	       "インシデント</th><th>優先度</th><th class=\"l\">項目</th>"
	       "<th>時間</th><th>目標</th><th>超過</th>"
	       "<th class=\"l\">状態</th></tr>\n");
	json_array_foreach(list, i, b)
	{
		printf("<tr><td class=\"l\">");
		report_html_text(report_html_str(b, "agreement"));
		printf("</td><td class=\"l\">");
		report_html_text(report_html_str(b, "ref"));
		printf("</td><td>P%lld</td><td class=\"l\">%s</td><td>",
		    (long long)json_integer_value(
			json_object_get(b, "priority")),
		    strcmp(report_html_str(b, "metric"), "tto") == 0 ? "受付" :
								       "復旧");
		report_html_hms(json_object_get(b, "value_s"));
		printf("</td><td>");
		report_html_hms(json_object_get(b, "target_s"));
		printf("</td><td class=\"ng\">");
		report_html_hms(json_object_get(b, "over_s"));
		printf("</td><td class=\"l\">%s</td></tr>\n",
		    json_is_true(json_object_get(b, "open_at_end")) ?
			"月末時点で未復旧" :
			"復旧済み");
	}
	printf("</table>\n");
}

/* One bar chart of counts with labels under the bars. */
static void
report_html_bars(const char *id, const char *const *labels, const int *counts,
    int n)
{
	const int bw = 60, gap = 20, h = 120;
	int max = 1;

	for (int i = 0; i < n; i++)
		if (counts[i] > max)
			max = counts[i];
	printf("<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" "
	       "id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	       "font-size=\"10\">\n",
	    id, n * (bw + gap) + gap, h + 40, n * (bw + gap) + gap, h + 40);
	for (int i = 0; i < n; i++) {
		int bh = counts[i] * h / max, x = gap + i * (bw + gap);

		printf("<rect data-count=\"%d\" x=\"%d\" y=\"%d\" width=\"%d\" "
		       "height=\"%d\" fill=\"#4f81bd\"/>"
		       "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%d"
		       "</text><text x=\"%d\" y=\"%d\" "
		       "text-anchor=\"middle\">",
		    counts[i], x, 10 + h - bh, bw, bh, x + bw / 2, 8 + h - bh,
		    counts[i], x + bw / 2, h + 25);
		report_html_text(labels[i]);
		printf("</text>\n");
	}
	printf("</svg></div>\n");
}

/*
 * Incidents detected in the month per week (Monday to Sunday, cut at the
 * month's edges), each counted once.
 */
static void
report_html_weeks(json_t *doc)
{
	const char *month = report_html_str(doc, "month"), *key;
	json_t *by_day =
		   json_object_get(json_object_get(doc, "counts"), "by_day"),
	       *v;
	char labels[6][32];
	const char *lp[6];
	int counts[6] = { 0 }, first_dow, ndays, y, m, nweeks;
	struct tm tm;

	if (sscanf(month, "%4d-%2d", &y, &m) != 2 || m < 1 || m > 12)
		return;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = 1;
	tm.tm_hour = 12;
	timegm(&tm);
	first_dow = (tm.tm_wday + 6) % 7; /* Monday 0 */
	tm.tm_mon = m;
	tm.tm_mday = 0;
	timegm(&tm);
	ndays = tm.tm_mday;
	nweeks = (first_dow + ndays + 6) / 7;
	for (int w = 0; w < nweeks; w++) {
		int d0 = w * 7 - first_dow + 1, d1 = d0 + 6;

		snprintf(labels[w], sizeof(labels[w]), "%d/%d-%d/%d", m,
		    d0 < 1 ? 1 : d0, m, d1 > ndays ? ndays : d1);
		lp[w] = labels[w];
	}
	json_object_foreach(by_day, key, v)
	{
		int dd = atoi(key);

		if (dd < 1 || dd > ndays || !json_is_integer(v))
			continue;
		counts[(dd - 1 + first_dow) / 7] += (int)json_integer_value(v);
	}
	printf("<h2>週ごとのインシデント（検知）</h2>\n");
	report_html_bars("weeks", lp, counts, nweeks);
}

/*
 * How long restoring took, in the SLAs' business time, in five bins (an
 * incident in two SLAs counts in each).
 */
static void
report_html_ttr_spread(json_t *doc)
{
	static const char *const labels[] = { "1時間以内", "1-4時間", "4-8時間",
		"8-24時間", "24時間超" };
	json_t *ags = json_object_get(doc, "agreements"), *a;
	int counts[5] = { 0 };
	size_t i;

	json_array_foreach(ags, i, a)
	{
		json_t *spread = json_object_get(a, "ttr_spread");

		if (strcmp(report_html_str(a, "kind"), "sla") != 0)
			continue;
		for (size_t b = 0; b < 5; b++)
			counts[b] +=
			    (int)json_integer_value(json_array_get(spread, b));
	}
	printf("<h2>復旧時間の分布（SLA、業務時間）</h2>\n");
	report_html_bars("ttr", labels, counts, 5);
}

static void
report_html_counts(json_t *doc)
{
	static const char *const keys[] = { "by_priority", "by_segment",
		"by_cause" };
	static const char *const names[] = { "優先度別", "ネットワーク別",
		"原因別" };
	json_t *counts = json_object_get(doc, "counts"), *v;
	const char *key;

	printf("<h2>件数（当月検知）</h2>\n<table>\n");
	for (int i = 0; i < 3; i++) {
		int first = 1;

		printf("<tr><th class=\"l\">%s</th><td class=\"l\">", names[i]);
		json_object_foreach(json_object_get(counts, keys[i]), key, v)
		{
			printf("%s", first ? "" : "、");
			if (strcmp(key, "-") == 0)
				printf("未記入");
			else {
				printf("%s", i == 0 ? "P" : "");
				report_html_text(key);
			}
			printf(" %lld件", (long long)json_integer_value(v));
			first = 0;
		}
		printf("%s</td></tr>\n", first ? "なし" : "");
	}
	printf("</table>\n");
}

/* Writes the report (sla_report()'s JSON) as an HTML page. */
void
report_html(json_t *doc)
{
	json_t *ags = json_object_get(doc, "agreements");

	report_html_head(doc);
	report_html_availability_table(ags);
	report_html_availability_chart(ags);
	report_html_times_table(ags);
	report_html_breaches(json_object_get(doc, "breaches"));
	report_html_weeks(doc);
	report_html_ttr_spread(doc);
	report_html_counts(doc);
	printf("</body></html>\n");
}
