package report_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/safedeploy/safedeploy/report"
)

// requireBrowser is the environment variable that, set to 1, makes a
// missing chromium fail the browser test instead of skipping it.
const requireBrowser = "SAFEDEPLOY_INTEGRATION"

// chromium returns the path of Debian's chromium, or skips t (fails it under
// SAFEDEPLOY_INTEGRATION=1) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium in PATH: apt-get install --no-install-recommends chromium to open the reports in a real browser"
	if os.Getenv(requireBrowser) == "1" {
		t.Fatalf("%s (%s=1)", msg, requireBrowser)
	}
	t.Skip(msg)
	return ""
}

// TestBrowser opens the report of a completed and of a rolled-back run in
// headless Chromium at a laptop's width and a phone's, and prints it: no
// console errors, nothing fetched from outside the page, no sideways
// scrolling on the phone, every chart laid out. The screenshots and PDFs are
// kept in the test's artifact directory (go test -artifacts).
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // start the browser
		t.Fatalf("starting %s: %v", bin, err)
	}

	for _, tc := range []struct {
		name string
		bad  bool
	}{{"completed", false}, {"rolled-back", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.ArtifactDir()
			var page bytes.Buffer
			if err := report.Write(&page, runRecord(t, tc.bad)); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, tc.name+".html")
			if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}

			tab, cancel := chromedp.NewContext(browser)
			defer cancel()
			var (
				mu       sync.Mutex
				problems []string
			)
			note := func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				problems = append(problems, fmt.Sprintf(format, args...))
			}
			if err := chromedp.Listen(tab, func(ev any) {
				if ev, ok := ev.(*network.EventRequestWillBeSent); ok {
					if u := ev.Request.URL; !strings.HasPrefix(u, "file://") && !strings.HasPrefix(u, "data:") {
						note("fetched from outside the page: %s", u)
					}
				}
			}); err != nil {
				t.Fatal(err)
			}
			// Console errors, uncaught exceptions and the browser log's
			// errors, read until the tab closes.
			console := chromedp.Console(tab)
			var reading sync.WaitGroup
			reading.Go(func() {
				for m, err := range console {
					if err != nil {
						return
					}
					if m.Type == chromedp.ConsoleError || m.IsException() {
						note("console: %s", m)
					}
				}
			})
			defer reading.Wait()
			defer cancel()
			if err := chromedp.Do(tab, chromedp.Navigate("file://"+file)); err != nil {
				t.Fatalf("opening %s: %v", file, err)
			}
			charts := strings.Count(page.String(), `<svg class="chart"`) - 2 // without the traffic chart's two sizes
			for _, v := range []struct {
				name   string
				width  int64
				mobile bool
			}{{"laptop", 1280, false}, {"phone", 390, true}} {
				emulate := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
				if v.mobile {
					emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateTouch)
				}
				if err := chromedp.Do(tab, chromedp.EmulateViewport(v.width, 900, emulate...)); err != nil {
					t.Fatal(err)
				}
				type layout struct {
					ScrollWidth, InnerWidth, Charts, Traffic int
				}
				got, err := chromedp.Run(tab, chromedp.Evaluate[layout](`({
					ScrollWidth: document.documentElement.scrollWidth,
					InnerWidth: window.innerWidth,
					Charts: [...document.querySelectorAll(".charts svg.chart")].filter(s => s.getBoundingClientRect().width > 200).length,
					Traffic: [...document.querySelectorAll("figure.wide svg.chart")].filter(s => s.getBoundingClientRect().width > 200).length,
				})`))
				if err != nil {
					t.Fatal(err)
				}
				if got.ScrollWidth > got.InnerWidth {
					t.Errorf("%s (%dpx): the page is %dpx wide and scrolls sideways", v.name, v.width, got.ScrollWidth)
				}
				if got.Charts != charts || got.Traffic != 1 {
					t.Errorf("%s: %d of %d metric charts and %d traffic charts laid out at least 200px wide, want all and 1", v.name, got.Charts, charts, got.Traffic)
				}
				png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.png", tc.name, v.name, v.width)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			pdf, err := chromedp.Run(tab, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPrintBackground()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(pdf, []byte("%PDF")) {
				t.Errorf("printing gave %d bytes that are not a PDF", len(pdf))
			}
			if err := os.WriteFile(filepath.Join(dir, tc.name+".pdf"), pdf, 0o644); err != nil {
				t.Fatal(err)
			}
			cancel() // close the tab: the console's messages are all in
			reading.Wait()
			mu.Lock()
			defer mu.Unlock()
			for _, p := range problems {
				t.Error(p)
			}
			t.Logf("page, screenshots and PDF in %s", dir)
		})
	}
}
