/* The libmodbus ceiling for the scale benchmark: the same register blocks isowatch reads,
 * requested back to back by a bare C loop on one modbus_t, for a fixed time.
 *   modbus_loop HOST PORT UNIT SECONDS TABLE:ADDRESS:COUNT [TABLE:ADDRESS:COUNT ...]
 *   modbus_loop /dev/ttyX BAUD:PARITY UNIT SECONDS TABLE:ADDRESS:COUNT ...   (RTU, 8 data bits, 1 stop bit)
 * TABLE is h (holding) or i (input). Prints one JSON object: polls (all blocks read), requests,
 * errors, seconds. Built by scripts/bench-scale with: cc -O2 modbus_loop.c $(pkg-config --cflags --libs libmodbus)
 */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s HOST PORT UNIT SECONDS TABLE:ADDRESS:COUNT...\n", argv[0]);
        return 64;
    }
    int blocks = argc - 5;
    char tables[64];
    int addresses[64], counts[64];
    if (blocks > 64) return 64;
    for (int i = 0; i < blocks; i++) {
        if (sscanf(argv[5 + i], "%c:%d:%d", &tables[i], &addresses[i], &counts[i]) != 3) return 64;
    }
    modbus_t *ctx;
    if (argv[1][0] == '/') {
        int baud;
        char parity;
        if (sscanf(argv[2], "%d:%c", &baud, &parity) != 2) return 64;
        ctx = modbus_new_rtu(argv[1], baud, parity, 8, 1);
    } else {
        ctx = modbus_new_tcp(argv[1], atoi(argv[2]));
    }
    if (ctx == NULL || modbus_connect(ctx) != 0) {
        fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_slave(ctx, atoi(argv[3]));
    modbus_set_response_timeout(ctx, 0, 500000);
    uint16_t words[125];
    long polls = 0, requests = 0, errors = 0;
    double seconds = atof(argv[4]);
    double start = now_seconds(), end = start + seconds;
    while (now_seconds() < end) {
        for (int i = 0; i < blocks; i++) {
            int rc = tables[i] == 'h' ? modbus_read_registers(ctx, addresses[i], counts[i], words)
                                      : modbus_read_input_registers(ctx, addresses[i], counts[i], words);
            requests++;
            if (rc != counts[i]) errors++;
        }
        polls++;
    }
    double elapsed = now_seconds() - start;
    printf("{\"polls\": %ld, \"requests\": %ld, \"errors\": %ld, \"seconds\": %.3f}\n", polls, requests, errors, elapsed);
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}
