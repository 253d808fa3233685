package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// axeJS returns axe-core's script (scripts/lib/install-axe.sh puts it in
// a cache folder and exports BINDERY_AXE_JS), or skips (fails in CI).
func axeJS(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BINDERY_AXE_JS")
	if p == "" {
		home, _ := os.UserHomeDir()
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			cache = filepath.Join(home, ".cache")
		}
		p = filepath.Join(cache, "bindery", "axe-core-4.14.1", "node_modules", "axe-core", "axe.min.js")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		if os.Getenv("BINDERY_REQUIRE_SLAPD") != "" {
			t.Fatalf("axe-core not installed (scripts/lib/install-axe.sh): %v", err)
		}
		t.Skipf("axe-core not installed (scripts/lib/install-axe.sh): %v", err)
	}
	return string(b)
}

// axeViolation is one failed axe rule on a page.
type axeViolation struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target []string `json:"target"`
		HTML   string   `json:"html"`
	} `json:"nodes"`
}

// emulateFocus makes the page behave as if its window had the focus, so
// :focus styles apply in headless Chromium.
func emulateFocus() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	})
}

// focusStyle stores the outline of the focused element and the background
// of main, as "width style color|background".
func focusStyle(dst *string) chromedp.Action[chromedp.Void] {
	return into(dst, chromedp.Evaluate[string](`(() => { const s = getComputedStyle(document.activeElement);
		return s.outlineWidth + " " + s.outlineStyle + " " + s.outlineColor + "|" + getComputedStyle(document.querySelector("main")).backgroundColor; })()`))
}

// allowCSPBypass lets the test inject axe-core into pages whose
// Content-Security-Policy allows only their own scripts.
func allowCSPBypass() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		return err
	})
}

// axeCheck runs axe-core's WCAG 2.1 A and AA rules on the current page
// and records every violation as a test error naming the page.
func axeCheck(t *testing.T, script, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := chromedp.Evaluate[chromedp.Void](script)(ctx, tg); err != nil {
			return fmt.Errorf("injecting axe-core: %w", err)
		}
		out, err := chromedp.Evaluate[string](`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
			.then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise)(ctx, tg)
		if err != nil {
			return fmt.Errorf("axe.run: %w", err)
		}
		var vs []axeViolation
		if err := json.Unmarshal([]byte(out), &vs); err != nil {
			return err
		}
		for _, v := range vs {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, strings.Join(n.Target, " ")+" "+n.HTML)
			}
			t.Errorf("axe on %s: %s (%s):\n  %s", name, v.ID, v.Help, strings.Join(where, "\n  "))
		}
		return nil
	})
}

// axTexts returns the names of the accessibility tree's nodes that a
// screen reader can reach (ignored nodes, e.g. aria-hidden, left out).
func axTexts(dst *[]string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err != nil {
			return err
		}
		*dst = (*dst)[:0]
		for _, n := range res.Nodes {
			if n.Ignored || n.Name == nil {
				continue
			}
			var s string
			if json.Unmarshal(n.Name.Value, &s) == nil && s != "" {
				*dst = append(*dst, s)
			}
		}
		return nil
	})
}

var rgbRE = regexp.MustCompile(`rgba?\((\d+), (\d+), (\d+)`)

// contrast is the WCAG contrast ratio of two CSS rgb() colours.
func contrast(a, b string) (float64, error) {
	lum := func(c string) (float64, error) {
		m := rgbRE.FindStringSubmatch(c)
		if m == nil {
			return 0, fmt.Errorf("not an rgb() colour: %q", c)
		}
		var l [3]float64
		for i := range 3 {
			v, _ := strconv.Atoi(m[i+1])
			s := float64(v) / 255
			if s <= 0.03928 {
				l[i] = s / 12.92
			} else {
				l[i] = math.Pow((s+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2], nil
	}
	la, err := lum(a)
	if err != nil {
		return 0, err
	}
	lb, err := lum(b)
	if err != nil {
		return 0, err
	}
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05), nil
}

// checkFocus fails unless a focusStyle value is a solid outline of at
// least 2px whose colour has 3:1 contrast or more against the background.
func checkFocus(t *testing.T, what, style string) {
	t.Helper()
	outline, bg, _ := strings.Cut(style, "|")
	f := strings.SplitN(outline, " ", 3)
	if len(f) != 3 {
		t.Errorf("focus style of %s: %q", what, style)
		return
	}
	w, _ := strconv.ParseFloat(strings.TrimSuffix(f[0], "px"), 64)
	c, err := contrast(f[2], bg)
	if err != nil || w < 2 || f[1] != "solid" || c < 3 {
		t.Errorf("focus outline of %s: %s on %s: contrast %.2f (%v), want a solid outline >= 2px at >= 3:1", what, outline, bg, c, err)
	}
}
