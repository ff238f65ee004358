module github.com/featurelog/featurelog/clients/go

go 1.24
