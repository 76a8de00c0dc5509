module stele.test/gointerop

go 1.19
