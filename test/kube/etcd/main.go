// Command etcd is the upstream etcd server, built from the
// go.etcd.io/etcd/server/v3 Go module for mini-pilot's integration tests.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
