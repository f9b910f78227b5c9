package mask
