module myapp

go 1.22
