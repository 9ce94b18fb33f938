package kubetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"fmt"
	"net/http"
	"strconv"

	"github.com/safedeploy/safedeploy/internal/testserver/proctest"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/kubernetes"
)

func TestScratchAPIServer(t *testing.T) {
	dir := t.TempDir()
	keys, err := writePKI(dir)
	if err != nil { t.Fatal(err) }
	tok := newToken()
	os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tok+",admin,1,\"system:masters\"\n"), 0o600)
	e1, _ := proctest.FreePort(); e2, _ := proctest.FreePort(); ap, _ := proctest.FreePort()
	c := &Cluster{dir: dir}
	defer func() { t.Log(c.logs()); c.Stop() }()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", e1)
	peer := fmt.Sprintf("http://127.0.0.1:%d", e2)
	begin := time.Now()
	if err := c.run("/usr/bin/etcd", dir, "etcd.log", "--name=kubetest", "--data-dir="+dir+"/etcd", "--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL, "--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=kubetest="+peer, "--log-level=warn", "--logger=zap"); err != nil { t.Fatal(err) }
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute); defer cancel()
	if err := c.waitHTTP(ctx, &http.Client{}, etcdURL+"/health", "etcd"); err != nil { t.Fatal(err) }
	t.Log("etcd", time.Since(begin))
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", ap)
	c.admin = &rest.Config{Host: c.URL, BearerToken: tok, TLSClientConfig: rest.TLSClientConfig{CAData: keys.caPEM}}
	c.apiBin = os.ExpandEnv("$HOME/.cache/safedeploy/kubernetes-v1.37.2/kube-apiserver")
	c.apiArgs = []string{"--etcd-servers=" + etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ap),
		"--tls-cert-file=" + keys.certFile, "--tls-private-key-file=" + keys.keyFile, "--cert-dir=" + dir + "/ac", "--token-auth-file=" + dir + "/tokens.csv",
		"--authorization-mode=RBAC", "--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file=" + keys.saPublicFile,
		"--service-account-signing-key-file=" + keys.saPrivateFile, "--service-cluster-ip-range=" + serviceRange, "--profiling=false", "--endpoint-reconciler-type=none"}
	if err := c.startAPIServer(ctx); err != nil { t.Fatal(err) }
	t.Log("apiserver", time.Since(begin))
	cs, _ := kubernetes.NewForConfig(c.admin)
	v, err := cs.Discovery().ServerVersion()
	t.Log(v, err)
	c.client = cs
	if err := c.installGatewayAPI(ctx); err != nil { t.Fatal(err) }
	t.Log("crds", time.Since(begin))
	_ = strings.TrimSpace
}
