package controller

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Every create, update and patch names the field manager and asks for strict
// field validation; in dry-run mode it also carries dryRun=All.
func TestWriteOptions(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		var wantDryRun []string
		if dryRun {
			wantDryRun = []string{metav1.DryRunAll}
		}
		o := writeOptions{dryRun: dryRun}

		create := (&client.CreateOptions{}).ApplyOptions([]client.CreateOption{o})
		if want := (&client.CreateOptions{FieldManager: FieldManager, FieldValidation: "Strict", DryRun: wantDryRun}); !reflect.DeepEqual(create, want) {
			t.Errorf("dryRun=%v: create options %+v, want %+v", dryRun, create, want)
		}
		update := (&client.UpdateOptions{}).ApplyOptions([]client.UpdateOption{o})
		if want := (&client.UpdateOptions{FieldManager: FieldManager, FieldValidation: "Strict", DryRun: wantDryRun}); !reflect.DeepEqual(update, want) {
			t.Errorf("dryRun=%v: update options %+v, want %+v", dryRun, update, want)
		}
		patch := (&client.PatchOptions{}).ApplyOptions([]client.PatchOption{o})
		if want := (&client.PatchOptions{FieldManager: FieldManager, FieldValidation: "Strict", DryRun: wantDryRun}); !reflect.DeepEqual(patch, want) {
			t.Errorf("dryRun=%v: patch options %+v, want %+v", dryRun, patch, want)
		}
	}
}
