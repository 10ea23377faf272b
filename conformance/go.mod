module github.com/descope-contrib/anonymous/conformance

go 1.25.0
