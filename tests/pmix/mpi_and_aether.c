/* An MPI program that is also an Aether node, started by mpirun: Aether joins through the same
 * PMIx server as MPI, before MPI_Init ("aether-first", as the preload library does) or after it
 * ("mpi-first"). Both must keep working and end cleanly: mpirun aborts a job whose processes
 * leave PMIx too early or not at all. Node ids are MPI ranks; an Aether address passes through
 * MPI_Bcast and every rank reads it. */
#include <mpi.h>
#include <seraph/aether.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                                              \
    do {                                                                                                                         \
        if (!(cond)) {                                                                                                           \
            fprintf(stderr, "CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);                                           \
            exit(1);                                                                                                             \
        }                                                                                                                        \
    } while (0)

int main(int argc, char** argv) {
    CHECK(argc == 2);
    const int aether_first = strcmp(argv[1], "aether-first") == 0;
    Seraph_Aether a;
    if (aether_first) CHECK(seraph_aether_init_from_env(&a) == SERAPH_VBIT_TRUE);
    CHECK(MPI_Init(&argc, &argv) == MPI_SUCCESS);
    int rank = -1, size = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (!aether_first) CHECK(seraph_aether_init_from_env(&a) == SERAPH_VBIT_TRUE);
    CHECK(a.local_node_id == rank && a.node_count == size);

    uint64_t word = 0;
    if (rank == 0) {
        word = seraph_aether_alloc_on_node(&a, 0, 64);
        CHECK(word != SERAPH_VOID_U64);
        *(volatile uint64_t*)(uintptr_t)word = 1234;
    }
    MPI_Bcast(&word, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int ok = *(volatile uint64_t*)(uintptr_t)word == 1234, all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    CHECK(all);
    MPI_Barrier(MPI_COMM_WORLD);
    seraph_aether_destroy(&a);
    CHECK(MPI_Finalize() == MPI_SUCCESS);
    printf("rank %d: %s, read rank 0's word through Aether\n", rank, argv[1]);
    return 0;
}
