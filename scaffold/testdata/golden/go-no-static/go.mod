module example.com/you/shop/v2

go 1.22
