package config

import (
	"testing"
)

// TestReusingKeepsCompiledConditions: a condition a reload leaves alone is
// not compiled again (its program is taken from the config in force); a
// changed one is compiled anew.
func TestReusingKeepsCompiledConditions(t *testing.T) {
	withConds := func(conds ...string) string {
		s := minimal + "    conditions:\n"
		for _, c := range conds {
			s += "      - \"" + c + "\"\n"
		}
		return s
	}
	first, err := Parse([]byte(withConds("claims.tier == 'pro'", "request.model == 'm'")), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse([]byte(withConds("claims.tier == 'pro'", "request.model == 'x'")), noEnv, Reusing(first))
	if err != nil {
		t.Fatal(err)
	}
	if again.Conditions[0][0] != first.Conditions[0][0] {
		t.Error("an unchanged condition was compiled again")
	}
	if again.Conditions[0][1] == first.Conditions[0][1] || again.Conditions[0][1].Source != "request.model == 'x'" {
		t.Error("a changed condition kept its old program")
	}
	fresh, err := Parse([]byte(withConds("claims.tier == 'pro'")), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Conditions[0][0] == first.Conditions[0][0] {
		t.Error("a compilation without Reusing shared a program")
	}
	if _, err := Parse([]byte(withConds("claims.tier ==")), noEnv, Reusing(first)); err == nil {
		t.Error("a condition that does not compile passed with Reusing")
	}
}
